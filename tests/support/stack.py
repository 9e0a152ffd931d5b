"""Helpers for integration tests: act as a given identity against the real stack."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import hvac
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from orders import client as orders_client
from orders import evidence
from orders.contract import identities
from orders.contract.identities import Identity
from orders.db.engine import create_engine, ssl_context
from orders.deploy import relay
from orders.devstack import actas, control
from orders.devstack.actas import login, login_as, projected_token
from orders.devstack.identity_endpoint import IdentityState, mint_token
from orders.devstack.identity_env import identity_settings
from orders.devstack.state import PROJECT_ROOT, StackInfo, StackPaths
from orders.models import OrderItem, OrderRequest, OrderStatus
from orders.security.codec import codec_for
from orders.security.k8s_token import TokenProjector
from orders.security.sealing import Unsealer
from orders.security.vault import VaultSession
from orders.vault import tokens as vault_tokens
from tests.support.wait import wait_for as eventually

A = TypeVar("A")
T = TypeVar("T")

__all__ = ["eventually", "login", "login_as", "projected_token"]

TEST_HOME = PROJECT_ROOT / ".orders" / "test"
"""The session stack's home (tests/integration/conftest.py starts it there)."""
TEST_TTLS = control.UpOptions(
    db_ttl=10,
    db_max_ttl=30,
    token_ttl=20,
    token_max_ttl=60,
    min_token_seconds=10,
    cert_ttl=15,
    temporal_token_ttl=30,
)
"""Short credential lifetimes: renewal and rotation happen many times while the suite runs."""


def identity_state(stack: StackInfo, paths: StackPaths) -> IdentityState:
    """The running identity endpoint's keys (tests act as cluster admin)."""
    return IdentityState.load_or_create(paths.identity, stack.identity_endpoint)


def forged_token(
    stack: StackInfo,
    paths: StackPaths,
    service_account: str,
    *,
    audiences: tuple[str, ...] = (identities.VAULT_AUDIENCE,),
    seconds: int = 600,
    issued_ago: int = 0,
) -> str:
    """A token signed with the endpoint's real key but with chosen claims."""
    state = identity_state(stack, paths)
    now = datetime.now(UTC) - timedelta(seconds=issued_ago)
    return mint_token(state, service_account, list(audiences), seconds, now=now)


def vault(stack: StackInfo, token: str | None = None) -> hvac.Client:
    """An hvac client for the stack's Vault."""
    return hvac.Client(url=stack.vault_addr, token=token, timeout=10, verify=stack.verify)


async def connect_pg(stack: StackInfo, username: str, password: str) -> asyncpg.Connection:
    """A Postgres connection as a (Vault-issued) user."""
    return await asyncpg.connect(
        host=stack.postgres_host,
        port=stack.postgres_port,
        database=stack.database,
        user=username,
        password=password,
        timeout=10,
        **pg_tls(stack),
    )


def pg_tls(stack: StackInfo) -> dict[str, Any]:
    """asyncpg TLS arguments for the stack's Postgres front (verify-full, direct TLS)."""
    if stack.ca_file is None:
        return {}
    return {"ssl": ssl_context(Path(stack.ca_file)), "direct_tls": True}


async def admin_pg(stack: StackInfo) -> asyncpg.Connection:
    """The superuser connection (for checks only)."""
    return await asyncpg.connect(stack.postgres_admin_dsn, timeout=10)


async def dynamic_roles(stack: StackInfo) -> list[str]:
    """Names of the ``v-%`` roles currently in Postgres."""
    conn = await admin_pg(stack)
    try:
        return [
            r["rolname"]
            for r in await conn.fetch(
                "SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-%' ORDER BY 1"
            )
        ]
    finally:
        await conn.close()


def make_order(
    prefix: str = "t",
    sku: str = "SKU-WIDGET",
    qty: int = 1,
    *,
    customer_id: str = "cust-test",
    email: str | None = None,
    address: str = "7 Test Street, Testville",
    ref: str = "tok-4242",
) -> OrderRequest:
    """A valid order with a fresh id (fake PII; override what a test looks for)."""
    oid = f"{prefix}-{uuid.uuid4().hex[:12]}"
    return OrderRequest(
        order_id=oid,
        customer_id=customer_id,
        customer_email=email or f"{oid}@example.com",
        shipping_address=address,
        payment_reference=ref,
        items=(OrderItem(sku=sku, quantity=qty),),
    )


async def complete(client: Client, order: OrderRequest, timeout: float = 120) -> OrderStatus:
    """Place ``order`` through the project's client and wait for its result."""
    handle = await orders_client.place(client, order)
    return await asyncio.wait_for(handle.result(), timeout=timeout)


@dataclass
class ActingIdentity:
    """What an identity's worker holds: its engine (own dynamic role) and its unsealer."""

    engine: AsyncEngine
    unsealer: Unsealer


@contextlib.asynccontextmanager
async def acting_as(
    stack: StackInfo, paths: StackPaths, identity: identities.Identity
) -> AsyncIterator[ActingIdentity]:
    """Build ``identity``'s engine and unsealer exactly as its worker does (workers/build.py).

    Its own projected token, its own Vault login and its own Vault-issued Postgres role,
    renewed while the block runs; on exit the engine is disposed and the session closed,
    which revokes the lease (the role is dropped).
    """
    settings = identity_settings(stack, paths, identity)
    await asyncio.to_thread(TokenProjector.from_settings(settings, identity).refresh)
    session = VaultSession(identity, settings)
    await session.start()
    stop = asyncio.Event()
    renewer = asyncio.create_task(session.run(stop))  # test TTLs are seconds long
    engine = create_engine(settings, session)
    codec = codec_for(session, settings)
    try:
        yield ActingIdentity(engine, Unsealer(codec.transit, identity))
    finally:
        stop.set()
        await renewer
        await engine.dispose()
        await codec.transit.aclose()
        await session.close()


async def run_activity_as_run(run_id: str, fn: Callable[[A], Awaitable[T]], arg: A) -> T:
    """Run a real activity method with Temporal info saying workflow run ``run_id``.

    No workflow or worker: ``ActivityEnvironment`` gives the activity the context a worker
    would, so the activity's own ``activity.info().workflow_run_id`` is ``run_id``.
    """
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_run_id=run_id)
    return await env.run(fn, arg)


async def person_token(
    stack: StackInfo, paths: StackPaths, user: str, client_id: str | None = None
) -> str:
    """A fresh ID token of a dev person from OpenBao's provider (code flow with PKCE).

    Args:
        stack: The running stack.
        paths: Its paths (the dev person's password).
        user: The dev person.
        client_id: The OIDC client, i.e. the token's audience (default: ``temporal-cli``,
            the one Temporal's persons' port accepts).
    """
    from orders import oidc
    from orders.devstack import people as dev_people

    client_id = client_id or stack.temporal_client_id
    assert client_id, "the stack must register the OIDC client"
    password = dev_people.dev_password(paths, user)
    return await oidc.fetch_person_token(
        stack.vault_addr, client_id, user, password, verify=stack.verify
    )


@contextlib.asynccontextmanager
async def person_client(stack: StackInfo, paths: StackPaths, user: str) -> AsyncIterator[Client]:
    """A client reaching Temporal as the dev person ``user`` (the front's persons' port)."""
    from orders.devstack import actas

    token = await person_token(stack, paths, user)
    async with actas.temporal_client(stack, paths, person_token=token) as client:
        yield client


def orders_cli(
    paths: StackPaths, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``orders *args`` in a child process against the stack at ``paths`` (output captured)."""
    env = {**os.environ, "ORDERS_HOME": str(paths.home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "orders", *args],
        capture_output=True, text=True, env=env, timeout=60, check=False, input=stdin,
    )  # fmt: skip


def raw_history(stack: StackInfo, paths: StackPaths, workflow_id: str) -> str:
    """The workflow's history as Temporal stores it (JSON, payloads still encoded)."""
    with actas.temporal_cli_args(stack, paths) as connection:
        return evidence.raw_history_json(connection, workflow_id)


@contextlib.asynccontextmanager
async def pg_plain_relay(stack: StackInfo) -> AsyncIterator[int]:
    """A loopback port speaking plain Postgres, relayed over direct TLS to the stack's front.

    For the wheel's own client tools (``pg_dump``), built without SSL: they connect here, and
    the relay verifies the front's certificate against the stack's CA, as every client does.
    """
    assert stack.ca_file, "the stack's Postgres speaks TLS only"
    tls = ssl_context(Path(stack.ca_file))
    tls.set_alpn_protocols(["postgresql"])  # what direct-TLS libpq offers

    target = (stack.postgres_host, stack.postgres_port)
    server = await relay.serve(("127.0.0.1", 0), target, tls=tls)
    async with server:
        yield server.sockets[0].getsockname()[1]


def machine_token(stack: StackInfo, paths: StackPaths, identity: Identity) -> str:
    """A fresh Temporal JWT of ``identity``, read with its own Vault login (then revoked)."""
    vault = login_as(stack, paths, identity)
    try:
        token: str = vault.read(vault_tokens.token_path(identity))["data"]["token"]
    finally:
        vault.auth.token.revoke_self()
    return token
