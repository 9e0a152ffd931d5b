"""Run the alembic migrations programmatically, as the order-migrate identity.

The caller supplies the DSN of a login role that is a member of the migrate group (in the
stack: a Vault-issued dynamic user from ``database/creds/order-migrate``). ``env.py``
switches to the group with ``SET ROLE`` first, so every object is owned by the group and the
short-lived login user owns nothing: Vault can then drop it when the lease ends.

No ``alembic.ini`` is involved; the configuration is built here and the DSN is handed to
``env.py`` as an open connection, so the password never passes through configparser.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from orders.contract import identities
from orders.db.engine import tls_args

if TYPE_CHECKING:
    from orders.settings import WorkerSettings

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
ASYNC_DRIVER: Final = "postgresql+asyncpg"


def async_url(dsn: str) -> str:
    """Normalise ``postgres://``, ``postgresql://`` or ``postgresql+asyncpg://`` to asyncpg.

    Args:
        dsn: A Postgres URL with any (or no) driver.

    Returns:
        The same URL with the ``postgresql+asyncpg`` driver, password included.
    """
    return make_url(dsn).set(drivername=ASYNC_DRIVER).render_as_string(hide_password=False)


def alembic_config() -> Config:
    """Alembic configuration pointing at the packaged migrations (no ini file)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    """The newest migration's revision id."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _upgrade_on(connection: Connection, cfg: Config, revision: str) -> None:
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def upgrade_async(
    dsn: str, revision: str = "head", connect_args: dict[str, Any] | None = None
) -> None:
    """Migrate the schema to ``revision`` in one transaction.

    Args:
        dsn: DSN of a login role that is a member of ``ORDER_MIGRATE.db_group`` (any
            ``postgresql[+driver]://`` form); the application database must be selected.
        revision: Target revision.
        connect_args: Extra ``asyncpg.connect`` arguments (TLS: ``ssl``, ``direct_tls``).
    """
    engine = create_async_engine(
        async_url(dsn), poolclass=NullPool, connect_args=connect_args or {}
    )
    try:
        # One transaction for SET ROLE, the DDL and the version bump: all or nothing.
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade_on, alembic_config(), revision)
    finally:
        await engine.dispose()


def upgrade(dsn: str, revision: str = "head") -> None:
    """Blocking :func:`upgrade_async`: call it from a thread or a script, not a running loop.

    Args:
        dsn: As for :func:`upgrade_async`.
        revision: Target revision.
    """
    asyncio.run(upgrade_async(dsn, revision))


async def upgrade_as_migrate_identity(settings: WorkerSettings) -> str:
    """Run the migrations as ``order-migrate``: its own token, Vault login and credential.

    The dev stack and docker-compose play kubelet for it (``settings.k8s_host`` set); in a
    pod the projected token is already in ``settings.token_file``. The credential is
    revoked afterwards, which drops the short-lived login role.

    Returns:
        The Vault-issued database user that migrated.
    """
    from orders.security.k8s_token import TokenProjector
    from orders.security.vault import VaultSession

    ident = identities.ORDER_MIGRATE
    if settings.k8s_host:
        await asyncio.to_thread(TokenProjector.from_settings(settings, ident).refresh)
    session = VaultSession(ident, settings)
    await session.start()
    try:
        cred = session.credential
        await upgrade_async(
            f"postgresql://{cred.username}:{cred.password}@{settings.db_host}:"
            f"{settings.db_port}/{settings.db_name}",
            connect_args=tls_args(settings),
        )
        return cred.username
    finally:
        await session.close()
