"""Activity slots derived from the database pool: overload waits in the queue, never fails.

A worker whose slots exceed its pool starts attempts that then wait for a connection and
fail on ``pool_timeout`` (a burned retry, a failed attempt in the history). With slots
derived from the pool (``activity_slots``), the same overload waits in Temporal's task
queue. Both runs use a real Postgres and the real Temporal dev server; the first is the
control that shows the overload is real.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from orders.contract import identities
from orders.db.engine import pool_capacity, pool_options
from orders.settings import WorkerSettings
from tests.support.postgres import PgCluster, pg_cluster
from workers.build import DEFAULT_ACTIVITY_SLOTS, activity_slots

__all__ = ["pg_cluster"]  # fixture, imported so pytest finds it here

TEMPORAL = shutil.which("temporal") or str(Path(sys.executable).parent / "temporal")
HOLD_SECONDS = 0.6
"""How long each activity keeps its connection: longer than the pool timeout below."""
SETTINGS = WorkerSettings(
    identity=identities.ORDER_RESERVE_INVENTORY.name, db_pool_size=2, db_pool_timeout_seconds=0.4
)


@pytest.mark.parametrize("identity", list(identities.db_identities()), ids=lambda i: i.name)
@pytest.mark.parametrize("cap", [None, 1, 500])
def test_slots_never_exceed_the_pool(identity: identities.Identity, cap: int | None) -> None:
    settings = WorkerSettings(identity=identity.name, max_concurrent_activities=cap)
    capacity = pool_capacity(settings)
    assert activity_slots(identity, settings) == min(cap or capacity, capacity)


def test_a_worker_without_a_database_keeps_the_default() -> None:
    ident = identities.ORDER_APPROVALS
    assert not ident.has_db_role
    assert activity_slots(ident, WorkerSettings(identity=ident.name)) == DEFAULT_ACTIVITY_SLOTS


@workflow.defn(sandboxed=False)
class Overload:
    """Starts ``n`` connection-holding activities at once; returns each one's attempt."""

    @workflow.run
    async def run(self, n: int) -> list[int]:
        calls = [
            workflow.execute_activity(
                "hold_connection",
                i,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)),
                result_type=int,
            )
            for i in range(n)
        ]
        return list(await asyncio.gather(*calls))


def _holder(engine: AsyncEngine) -> object:
    @activity.defn(name="hold_connection")
    async def hold_connection(_: int) -> int:
        async with engine.connect() as conn:
            await conn.execute(text(f"SELECT pg_sleep({HOLD_SECONDS})"))
        return activity.info().attempt

    return hold_connection


async def _attempts(env: WorkflowEnvironment, engine: AsyncEngine, slots: int) -> list[int]:
    queue = f"overload-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[Overload],
        activities=[_holder(engine)],  # type: ignore[list-item]
        max_concurrent_activities=slots,
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        return await env.client.execute_workflow(
            Overload.run, 3 * pool_capacity(SETTINGS), id=queue, task_queue=queue
        )


async def test_overload_waits_in_the_queue_instead_of_failing(pg_cluster: PgCluster) -> None:
    dsn = pg_cluster.admin_dsn.replace("postgresql://", "postgresql+asyncpg://")
    engine = create_async_engine(dsn, **pool_options(SETTINGS))
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=TEMPORAL, dev_server_log_level="error"
    ) as env:
        try:
            # Control: slots above the pool, as before they were derived. Attempts fail.
            control = await _attempts(env, engine, DEFAULT_ACTIVITY_SLOTS)
            assert max(control) > 1, "the overload must exhaust the pool without the fix"
            derived = await _attempts(
                env, engine, activity_slots(identities.ORDER_RESERVE_INVENTORY, SETTINGS)
            )
            assert derived == [1] * len(derived), "every attempt got a connection at once"
        finally:
            await engine.dispose()
