"""Async SQLAlchemy engine whose every new connection uses the current Vault credential.

The pool never stores a password: ``async_creator`` asks the Vault session for the
credential of the moment. When the session replaces the credential, the pool is disposed:
idle connections close at once, checked-out ones finish their work and close when
returned, and new connections log in as the new Vault-issued user.

Outages are retries, never failed orders: a connection that cannot be made or is cut
raises into the activity, whose attempt Temporal retries, and each is logged as one
structured warning (``db.unavailable``, ``db.credential.refused``, ``db.disconnected``).
A refused credential (revoked under the worker, or expired while Vault was down) also
makes the Vault session renew at once, so it is replaced within seconds.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from orders import logging as olog
from orders.observability import metrics, names

if TYPE_CHECKING:
    from orders.security.vault import DbCredential, VaultSession
    from orders.settings import WorkerSettings

log = olog.get(__name__)


def ssl_context(ca_file: Path) -> ssl.SSLContext:
    """``verify-full``: the server's chain must reach ``ca_file`` and name the host we dial."""
    ctx = ssl.create_default_context(cafile=str(ca_file))
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def tls_args(settings: WorkerSettings) -> dict[str, Any]:
    """``asyncpg.connect`` keyword arguments for the configured TLS (none when off)."""
    if settings.db_ssl_ca_file is None:
        return {}
    return {"ssl": ssl_context(settings.db_ssl_ca_file), "direct_tls": True}


def tls_query(ca_file: Path | str | None) -> str:
    """The same as DSN query parameters (``?sslmode=verify-full&…``), or ``""``."""
    if ca_file is None:
        return ""
    params = {"sslmode": "verify-full", "sslrootcert": str(ca_file), "sslnegotiation": "direct"}
    return "?" + urlencode(params)


def pool_capacity(settings: WorkerSettings) -> int:
    """Connections a worker's pool can have checked out at once (pool + overflow).

    The worker's activity slots are derived from this (``workers.build.activity_slots``):
    every activity holds at most one connection at a time, so with no more slots than
    connections an attempt never waits on the pool (and never fails on ``pool_timeout``);
    excess work waits in Temporal's task queue instead, where waiting costs nothing.
    """
    return settings.db_pool_size + settings.db_pool_size // 2


def pool_options(settings: WorkerSettings) -> dict[str, Any]:
    """SQLAlchemy pool arguments for ``settings`` (shared by every engine a worker makes)."""
    return {
        "pool_size": settings.db_pool_size,
        # Seven database identities at their peak stay well under max_connections=100.
        "max_overflow": pool_capacity(settings) - settings.db_pool_size,
        "pool_timeout": settings.db_pool_timeout_seconds,
    }


def create_engine(settings: WorkerSettings, session: VaultSession) -> AsyncEngine:
    """An engine for ``settings.identity`` that follows ``session``'s credential.

    Args:
        settings: Database host/port/name and pool size.
        session: The started Vault session of a database identity.

    Returns:
        The engine; it registers itself to be disposed at every credential rotation.
    """

    async def connect() -> asyncpg.Connection:
        cred = session.credential
        try:
            return await asyncpg.connect(
                host=settings.db_host,
                port=settings.db_port,
                database=settings.db_name,
                user=cred.username,
                password=cred.password,
                timeout=10,
                server_settings={"application_name": settings.identity},
                **tls_args(settings),
            )
        except _REFUSED as exc:
            log.warning("db.credential.refused", db_user=cred.username, error=type(exc).__name__)
            metrics.credential_event(names.CREDENTIAL_REFUSED)
            session.check_soon()
            raise
        except _UNAVAILABLE as exc:
            log.warning("db.unavailable", db_host=settings.db_host, error=type(exc).__name__)
            metrics.unavailable(names.POSTGRES)
            raise

    # No pre-ping (a round trip per checkout, ~14% of an activity's CPU): rotation
    # disposes the pool, and a connection that died under it (Postgres restart,
    # revocation) raises a disconnect error that invalidates the pool; the activity
    # attempt fails and Temporal retries it on a fresh connection.
    engine = create_async_engine(
        "postgresql+asyncpg://", async_creator=connect, **pool_options(settings)
    )

    async def swap(cred: DbCredential) -> None:
        await engine.dispose()
        log.info("db.pool.swapped", db_user=cred.username)

    session.on_rotate(swap)
    event.listen(engine.sync_engine, "handle_error", _log_disconnect)
    return engine


_REFUSED = (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)
_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.ConnectionDoesNotExistError,
)


def _log_disconnect(context: ExceptionContext) -> None:
    """One warning when a pooled connection turns out dead (Postgres restart, revocation)."""
    if context.is_disconnect:
        log.warning("db.disconnected", error=type(context.original_exception).__name__)
        metrics.unavailable(names.POSTGRES)
