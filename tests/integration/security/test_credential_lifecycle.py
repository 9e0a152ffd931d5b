"""Dynamic credentials over their whole life, with the test stack's short TTLs (10 s/30 s).

A Vault session is driven in the test process exactly as a worker drives it: renewal is
observed, the credential is replaced before its max TTL, the replaced role is dropped
after the grace period, and closing the session terminates its sessions and drops its
role. Meanwhile orders keep flowing through the real workers, which rotate too, and not a
single activity attempt fails.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from temporalio.client import Client

from orders import client as orders_client
from orders import evidence
from orders.contract import identities
from orders.devstack.identity_env import identity_settings
from orders.devstack.state import StackInfo, StackPaths
from orders.models import OrderRequest, OrderStatus, Outcome
from orders.security.vault import VaultSession
from orders.settings import LeaseTiming
from tests.support import stack as support

pytestmark = pytest.mark.integration

ROTATION_WINDOW = 40.0  # > max TTL of the test stack's credentials (30 s)


async def _orders_until(client: Client, stop: asyncio.Event, seconds: float) -> list[OrderRequest]:
    placed: list[OrderRequest] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end and not stop.is_set():
        order = support.make_order("rot", "SKU-CABLE", address="9 Rotation Row, Leaseton")
        await orders_client.place(client, order)
        placed.append(order)
        await asyncio.sleep(1)
    return placed


async def test_renewal_rotation_and_revocation(
    stack: StackInfo, stack_paths: StackPaths, client: Client
) -> None:
    ident = identities.ORDER_NOTIFY
    settings = identity_settings(stack, stack_paths, ident)
    support.projected_token(stack, stack_paths, ident)  # the token file the session reads
    session = VaultSession(ident, settings, LeaseTiming(revoke_grace_seconds=2))
    await session.start()
    first = session.credential
    stop = asyncio.Event()
    runner = asyncio.create_task(session.run(stop))
    # Orders stream until the rotation has been observed end to end (not for a fixed time).
    flow = asyncio.create_task(_orders_until(client, stop, ROTATION_WINDOW))
    try:
        await support.eventually(
            lambda: _true(session.rotations >= 1), timeout=ROTATION_WINDOW + 20
        )
        assert session.renewals >= 2
        second = session.credential
        assert second.username != first.username

        # The replaced role is revoked after the grace period: Vault drops it.
        async def first_dropped() -> bool:
            return first.username not in await support.dynamic_roles(stack)

        await support.eventually(first_dropped, timeout=20)
        with pytest.raises(asyncpg.InvalidPasswordError):
            await support.connect_pg(stack, first.username, first.password)

        # The current one works until the session closes; closing kills its sessions.
        conn = await support.connect_pg(stack, second.username, second.password)
        assert await conn.fetchval("SELECT count(*) FROM orders.notifications") >= 0
        stop.set()
        await runner
        await session.close()
        with pytest.raises((asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)):
            await conn.fetchval("SELECT 1")
        assert second.username not in await support.dynamic_roles(stack)
    finally:
        stop.set()
        placed = await flow

    # Orders placed across the rotations all completed, without one failed attempt.
    results = await asyncio.gather(
        *(
            client.get_workflow_handle(o.workflow_id, result_type=OrderStatus).result()
            for o in placed
        )
    )
    assert len(results) >= 10
    assert all(r.outcome is Outcome.COMPLETED for r in results)
    for order in placed:
        for run in await evidence.activity_runs(client, order.workflow_id):
            assert run.attempt == 1, (order.order_id, run)
            assert not run.failed


async def test_running_workers_rotated_their_credentials(stack_paths: StackPaths) -> None:
    # Runs after the test above, long after the 30 s max TTL: every activity worker has
    # replaced its credential at least once, each time with a fresh role of its own.
    for ident in identities.workers():
        if not ident.has_db_role:
            continue
        log = stack_paths.log_file(ident.name).read_text()
        assert '"db.credential.rotated"' in log, ident.name
        assert f'"db_user": "v-{ident.db_role}-' in log


async def _true(value: bool) -> bool:
    return value
