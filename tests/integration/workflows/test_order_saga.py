"""The order saga on the real stack: every activity on its own identity's queue and role."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from orders import client as orders_client
from orders import evidence
from orders.contract import identities
from orders.devstack.state import StackInfo, StackPaths, Status
from orders.models import OrderRequest, OrderStatus, Outcome, Step
from tests.support import stack as support
from workflows.order import WORKFLOW_ID_MISMATCH, WORKFLOW_NAME

pytestmark = pytest.mark.integration


def make_order(sku: str, qty: int = 1, *, ref: str = "tok-4242", address: str = "") -> OrderRequest:
    kwargs = {"address": address} if address else {}
    return support.make_order("t", sku, qty, ref=ref, **kwargs)


async def run(client: Client, order: OrderRequest) -> OrderStatus:
    return await support.complete(client, order)


async def rows(stack: StackInfo, sql: str, *args: object) -> list[dict[str, object]]:
    conn = await support.admin_pg(stack)
    try:
        return [dict(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


async def inventory(stack: StackInfo, sku: str) -> tuple[int, int]:
    (row,) = await rows(
        stack, "SELECT available, reserved FROM orders.inventory WHERE sku = $1", sku
    )
    return int(str(row["available"])), int(str(row["reserved"]))


async def test_happy_path_runs_each_activity_under_its_own_identity(
    stack: StackInfo, client: Client
) -> None:
    order = make_order("SKU-WIDGET", 2)
    result = await run(client, order)
    assert result.outcome is Outcome.COMPLETED
    assert result.step is Step.DONE
    assert result.compensations == ()

    runs = await evidence.activity_runs(client, order.workflow_id)
    assert [r.activity for r in runs] == [
        identities.VALIDATE_ORDER,
        identities.RESERVE_INVENTORY,
        identities.PROCESS_PAYMENT,
        identities.FULFILL_ORDER,
        identities.NOTIFY_CUSTOMER,
    ]
    for r in runs:
        assert r.task_queue == r.expected_queue
        assert r.worker_identity.startswith(f"{r.task_queue}@")

    written = {w.table: w for w in await evidence.writers(stack.postgres_admin_dsn, order.order_id)}
    expected_writer = {
        "orders": identities.ORDER_VALIDATE,
        "order_items": identities.ORDER_VALIDATE,
        "reservations": identities.ORDER_RESERVE_INVENTORY,
        "payments": identities.ORDER_PROCESS_PAYMENT,
        "shipments": identities.ORDER_FULFILL,
        "notifications": identities.ORDER_NOTIFY,
    }
    assert set(written) == set(expected_writer)
    for table, ident in expected_writer.items():
        assert written[table].db_user.startswith(f"v-{ident.db_role}-"), table
        # The writer may already have been rotated away (short TTLs in tests).
        assert written[table].groups in (ident.db_group, "(role dropped)"), table

    pay = await rows(
        stack, "SELECT status, amount_cents FROM orders.payments WHERE order_id=$1", order.order_id
    )
    assert pay == [{"status": "captured", "amount_cents": result.total_cents}]


async def test_out_of_stock_takes_no_payment_and_holds_nothing(
    stack: StackInfo, client: Client
) -> None:
    before = await inventory(stack, "SKU-SOLDOUT")
    order = make_order("SKU-SOLDOUT")
    result = await run(client, order)
    assert result.outcome is Outcome.OUT_OF_STOCK
    assert "SKU-SOLDOUT" in (result.reason or "")
    assert result.compensations == ()
    assert (
        await rows(stack, "SELECT 1 FROM orders.payments WHERE order_id=$1", order.order_id) == []
    )
    assert (
        await rows(stack, "SELECT 1 FROM orders.reservations WHERE order_id=$1", order.order_id)
        == []
    )
    assert await inventory(stack, "SKU-SOLDOUT") == before


async def test_payment_declined_releases_inventory(stack: StackInfo, client: Client) -> None:
    before = await inventory(stack, "SKU-GADGET")
    order = make_order("SKU-GADGET", 3, ref="decline-card")
    result = await run(client, order)
    assert result.outcome is Outcome.PAYMENT_DECLINED
    assert result.compensations == (identities.RELEASE_INVENTORY,)
    assert (
        await rows(stack, "SELECT 1 FROM orders.payments WHERE order_id=$1", order.order_id) == []
    )
    res = await rows(
        stack, "SELECT status FROM orders.reservations WHERE order_id=$1", order.order_id
    )
    assert res == [{"status": "released"}]
    assert await inventory(stack, "SKU-GADGET") == before
    runs = await evidence.activity_runs(client, order.workflow_id)
    release = [r for r in runs if r.activity == identities.RELEASE_INVENTORY]
    assert len(release) == 1
    assert release[0].task_queue == identities.ORDER_RELEASE_INVENTORY.task_queue


async def test_failure_after_payment_refunds_then_releases(
    stack: StackInfo, client: Client
) -> None:
    before = await inventory(stack, "SKU-GIZMO")
    order = make_order("SKU-GIZMO", 2, address="1 Undeliverable Road, Nowhere")
    result = await run(client, order)
    assert result.outcome is Outcome.FULFILLMENT_FAILED
    assert result.compensations == (identities.REFUND_PAYMENT, identities.RELEASE_INVENTORY)
    pay = await rows(
        stack,
        "SELECT status, refunded_at IS NOT NULL AS refunded FROM orders.payments WHERE order_id=$1",
        order.order_id,
    )
    assert pay == [{"status": "refunded", "refunded": True}]
    assert (
        await rows(stack, "SELECT 1 FROM orders.shipments WHERE order_id=$1", order.order_id) == []
    )
    assert await inventory(stack, "SKU-GIZMO") == before
    # The refund was written by the refund identity, not the payment identity.
    written = {w.table: w for w in await evidence.writers(stack.postgres_admin_dsn, order.order_id)}
    assert written["payments"].db_user.startswith(f"v-{identities.ORDER_REFUND_PAYMENT.db_role}-")


async def test_killed_workers_mid_order_complete_it_exactly_once(
    stack: StackInfo, stack_paths: StackPaths, client: Client
) -> None:
    status = Status.load(stack_paths)
    assert status is not None
    fulfill, wf = identities.ORDER_FULFILL.name, identities.ORDER_WORKFLOW.name
    restarts_before = dict(status.restarts)
    fulfill_pid = status.processes[fulfill]
    os.kill(fulfill_pid, signal.SIGSTOP)  # the order will wait at the fulfilment step
    order = make_order("SKU-CABLE", 1)
    handle = await orders_client.place(client, order)

    async def at_fulfilment() -> bool:
        st = await orders_client.status(client, order.order_id)
        return st.step is Step.FULFILLING

    await support.eventually(at_fulfilment, timeout=60)
    os.kill(status.processes[wf], signal.SIGKILL)
    os.kill(fulfill_pid, signal.SIGKILL)

    result = await asyncio.wait_for(handle.result(), timeout=120)
    assert result.outcome is Outcome.COMPLETED
    for table in ("payments", "shipments", "notifications", "orders"):
        key = "id" if table == "orders" else "order_id"
        found = await rows(stack, f"SELECT 1 FROM orders.{table} WHERE {key}=$1", order.order_id)
        assert len(found) == 1, table

    async def restarted() -> bool:
        now = Status.load(stack_paths)
        return now is not None and all(
            now.restarts.get(n, 0) > restarts_before.get(n, 0) for n in (fulfill, wf)
        )

    await support.eventually(restarted, timeout=30)


async def test_a_workflow_id_not_of_its_order_runs_nothing(
    stack: StackInfo, client: Client
) -> None:
    victim, other = make_order("SKU-WIDGET"), make_order("SKU-WIDGET")
    sealed = await orders_client.sealer_for(client).seal_order(victim)
    handle = await client.start_workflow(
        WORKFLOW_NAME,
        sealed,
        id=other.workflow_id,  # order-<other>, carrying the victim's order
        task_queue=identities.ORDER_WORKFLOW.task_queue,
        result_type=OrderStatus,
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), timeout=60)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == WORKFLOW_ID_MISMATCH
    assert other.workflow_id in cause.message
    assert victim.order_id in cause.message
    assert await evidence.activity_runs(client, other.workflow_id) == []
    for order_id in (victim.order_id, other.order_id):
        assert await rows(stack, "SELECT 1 FROM orders.orders WHERE id=$1", order_id) == []
