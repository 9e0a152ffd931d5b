"""Async SQLAlchemy engine whose every new connection uses the current Vault credential.

The pool never stores a password: ``async_creator`` asks the Vault session for the
credential of the moment. When the session replaces the credential, the pool is disposed:
idle connections close at once, checked-out ones finish their work and close when
returned, and new connections log in as the new Vault-issued user.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from orders import logging as olog

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

    engine = create_async_engine(
        "postgresql+asyncpg://",
        async_creator=connect,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        # No pre-ping (a round trip per checkout, ~14% of an activity's CPU): rotation
        # disposes the pool, and a connection that died under it (Postgres restart,
        # revocation) raises a disconnect error that invalidates the pool; the activity
        # attempt fails and Temporal retries it on a fresh connection.
        pool_timeout=10,
    )

    async def swap(cred: DbCredential) -> None:
        await engine.dispose()
        log.info("db.pool.swapped", db_user=cred.username)

    session.on_rotate(swap)
    return engine
