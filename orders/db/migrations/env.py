"""Alembic environment: every migration runs as the order-migrate identity's group.

``SET ROLE`` comes before anything else, so the tables, their constraints and
``alembic_version`` are owned by the NOLOGIN group and not by the (short-lived,
Vault-issued) login user. A transaction-scoped advisory lock serialises concurrent
migrators (two pods starting at once).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from orders.contract import identities
from orders.db.bootstrap import quote_ident
from orders.db.schema import metadata

SET_ROLE = f"SET ROLE {quote_ident(identities.ORDER_MIGRATE.db_group)}"
# Arbitrary constant key, the same for every migrator of this schema.
ADVISORY_LOCK = "SELECT pg_advisory_xact_lock(hashtext('orders-migrations'))"

config = context.config


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=metadata,
        version_table_schema=identities.DB_SCHEMA,
        include_schemas=False,
        **kwargs,  # type: ignore[arg-type]
    )


def run_migrations_offline() -> None:
    """Emit the SQL script (``alembic upgrade --sql``) instead of running it."""
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.execute(SET_ROLE)
        context.execute(ADVISORY_LOCK)
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    """Run the migrations on ``connection`` as the migrate group."""
    connection.execute(text(SET_ROLE))
    connection.execute(text(ADVISORY_LOCK))
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    """Use the connection ``orders.db.migrate`` passes in, else ``sqlalchemy.url``."""
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and sqlalchemy.url is not set")
    asyncio.run(_run_async(url))


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
