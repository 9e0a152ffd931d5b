"""A Temporal client holding exactly what one identity's worker holds, for as long as needed.

The dev stack's ``act as`` helpers and ``orders verify`` both need a short-lived client
that logs into Vault as an identity, seals and encrypts with that identity's keys, and
presents that identity's client certificate and Temporal JWT, renewed while it lives. The
sequence and its clean-up order (stop the renewers, then close Transit, then revoke the
Vault token) are the same everywhere, so they live here once.

A worker does the same and more (it swaps its client when the certificate is renewed), so
it keeps its own loop in :mod:`workers.build`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator

from temporalio.client import Client
from temporalio.service import TLSConfig

from orders import temporal
from orders.contract.identities import Identity
from orders.observability import tracing
from orders.security import client_tls
from orders.security.codec import codec_for
from orders.security.transit import TransitClient
from orders.security.vault import VaultSession
from orders.settings import WorkerSettings


@dataclasses.dataclass(frozen=True)
class Person:
    """A person's seat at the front: their own ID token on the persons' port, no certificate."""

    address: str
    token: str


@dataclasses.dataclass(frozen=True)
class Seat:
    """What a tool acting as an identity holds, all of it from one Vault login.

    Attributes:
        client: Temporal client (the identity's certificate, JWT and payload codec).
        transit: The identity's Transit client (its codec's).
        session: Its Vault session (e.g. for ``orders.db.engine.create_engine``).
        settings: Its settings.
    """

    client: Client
    transit: TransitClient
    session: VaultSession
    settings: WorkerSettings


@contextlib.asynccontextmanager
async def seat(
    identity: Identity,
    settings: WorkerSettings,
    *,
    person: Person | None = None,
    attempts: int = 30,
) -> AsyncIterator[Seat]:
    """Log in as ``identity`` and connect to Temporal (or as ``person``, ``identity``'s keys).

    Args:
        identity: Whose Vault login, payload codec, certificate and JWT the client uses.
        settings: Where Vault and Temporal are, and where the identity's token file is.
        person: Reach Temporal as this person instead (their token, the persons' port);
            payloads are still sealed and encrypted with ``identity``'s Vault access.
        attempts: How many one-second-spaced connection tries before giving up.

    Yields:
        The connected client with the identity's Transit client, Vault session and settings;
        the Vault token is revoked when the block ends.
    """
    session = VaultSession(identity, settings)
    await session.start()
    stop = asyncio.Event()
    renewer = asyncio.create_task(session.run(stop))  # long-lived clients outlive a TTL
    codec = codec_for(session, settings)
    refresher: asyncio.Task[None] | None = None
    try:
        token: client_tls.TemporalToken | None = None
        if person is not None:
            if settings.temporal_tls_ca_file is None:
                raise ValueError("a person's seat needs the Temporal CA (temporal_tls_ca_file)")
            ca = settings.temporal_tls_ca_file.read_bytes()
            address = person.address
            tls: TLSConfig | None = temporal.tls_config(ca, settings.temporal_tls_server_name)
            api_key: str | None = person.token
        else:
            certificates = await client_tls.for_settings(identity, session, settings)
            token = await client_tls.token_for_settings(identity, session, settings)
            address = settings.temporal_address
            tls = certificates.tls_config() if certificates else None
            api_key = token.current if token else None
        client = await temporal.connect(
            address,
            settings.temporal_namespace,
            codec,
            tls=tls,
            api_key=api_key,
            attempts=attempts,
            tracing=tracing.interceptor(identity.name, settings.trace_file),
        )
        if token is not None:

            async def refresh(jwt: str) -> None:
                client.api_key = jwt

            token.on_renew(refresh)
            refresher = asyncio.create_task(token.run(stop))
        yield Seat(client, codec.transit, session, settings)
    finally:
        stop.set()
        await renewer
        if refresher is not None:
            await refresher
        await codec.transit.aclose()
        await session.close()
        await asyncio.to_thread(tracing.flush)
