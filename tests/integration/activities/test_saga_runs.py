"""Defence in depth on the real stack: an activity acts only for the run that owns the rows.

A victim's order runs through the real saga first. Then the real activity classes run as
*another* workflow run (``ActivityEnvironment`` with a different ``workflow_run_id``: the
run id is Temporal's own info, which a worker cannot choose), each with its identity's own
Vault-issued Postgres role built exactly as its worker builds it. None may record, adopt,
release or refund anything of the victim's order. (Starting a second run for the order
through Temporal is refused by the client's REJECT_DUPLICATE, and an authorization front
will force that policy for every start, so this is how such a run's activities are met.)
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities._support import FOREIGN_RUN, NOT_RECORDED
from activities.payment import ProcessPayment
from activities.refund import RefundPayment
from activities.release_inventory import ReleaseInventory
from activities.reserve_inventory import ReserveInventory
from activities.validate import ValidateOrder
from orders import client as orders_client
from orders.contract import identities
from orders.devstack.state import StackInfo, StackPaths
from orders.models import (
    BusinessError,
    OrderItem,
    OrderRef,
    OrderRequest,
    Outcome,
    PaymentRequest,
    ReserveRequest,
)
from tests.support import stack as support

pytestmark = pytest.mark.integration


async def snapshot(stack: StackInfo, order_id: str) -> dict[str, Any]:
    """Everything the saga wrote for ``order_id``, and the stock of its SKUs."""
    conn = await support.admin_pg(stack)
    try:
        return {
            "orders": [
                dict(r)
                for r in await conn.fetch(
                    "SELECT total_cents, currency, run_id, written_by FROM orders.orders "
                    "WHERE id = $1",
                    order_id,
                )
            ],
            "order_items": [
                dict(r)
                for r in await conn.fetch(
                    "SELECT sku, quantity FROM orders.order_items WHERE order_id = $1", order_id
                )
            ],
            "reservations": [
                dict(r)
                for r in await conn.fetch(
                    "SELECT sku, quantity, status, run_id, written_by FROM orders.reservations "
                    "WHERE order_id = $1 ORDER BY sku",
                    order_id,
                )
            ],
            "payments": [
                dict(r)
                for r in await conn.fetch(
                    "SELECT amount_cents, status, refunded_at, run_id, written_by "
                    "FROM orders.payments WHERE order_id = $1",
                    order_id,
                )
            ],
            "stock": [
                dict(r)
                for r in await conn.fetch(
                    "SELECT sku, available, reserved FROM orders.inventory WHERE sku IN "
                    "('SKU-WIDGET', 'SKU-GIZMO') ORDER BY sku"
                )
            ],
        }
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def victim(stack: StackInfo, client: Client) -> OrderRequest:
    """A completed order: recorded, stock held, payment captured, by its own run."""
    order = support.make_order("victim", "SKU-WIDGET", 2)
    result = await support.complete(client, order)
    assert result.outcome is Outcome.COMPLETED
    return order


def intruder() -> str:
    """A run id of some other workflow run."""
    return f"intruder-{uuid.uuid4()}"


async def test_victims_rows_name_the_run_that_wrote_them(
    stack: StackInfo, client: Client, victim: OrderRequest
) -> None:
    handle = client.get_workflow_handle(victim.workflow_id)
    run_id = (await handle.describe()).run_id
    rows = await snapshot(stack, victim.order_id)
    assert [r["run_id"] for r in rows["orders"]] == [run_id]
    assert [r["run_id"] for r in rows["reservations"]] == [run_id]
    assert [r["run_id"] for r in rows["payments"]] == [run_id]


async def test_validate_refuses_the_order_id_for_another_run(
    stack: StackInfo, stack_paths: StackPaths, client: Client, victim: OrderRequest
) -> None:
    before = await snapshot(stack, victim.order_id)
    # Same order id, a cheaper basket: what the reviewer's second run brought.
    replacement = victim.model_copy(update={"items": (OrderItem(sku="SKU-GIZMO", quantity=1),)})
    sealed = await orders_client.sealer_for(client).seal_order(replacement)
    async with support.acting_as(stack, stack_paths, identities.ORDER_VALIDATE) as acting:
        with pytest.raises(ApplicationError) as failure:
            await support.run_activity_as_run(
                intruder(), ValidateOrder(acting.engine).validate_order, sealed
            )
    assert failure.value.type == BusinessError.DUPLICATE_ORDER
    assert failure.value.non_retryable
    assert await snapshot(stack, victim.order_id) == before


async def test_reserve_refuses_to_adopt_the_victims_reservations(
    stack: StackInfo, stack_paths: StackPaths, victim: OrderRequest
) -> None:
    before = await snapshot(stack, victim.order_id)
    request = ReserveRequest(
        order_id=victim.order_id,
        items=(*victim.items, OrderItem(sku="SKU-GIZMO", quantity=1)),
    )
    async with support.acting_as(stack, stack_paths, identities.ORDER_RESERVE_INVENTORY) as acting:
        with pytest.raises(ApplicationError) as failure:
            await support.run_activity_as_run(
                intruder(), ReserveInventory(acting.engine).reserve_inventory, request
            )
    assert failure.value.type == FOREIGN_RUN
    assert failure.value.non_retryable
    assert await snapshot(stack, victim.order_id) == before


async def test_payment_refuses_an_order_another_run_recorded(
    stack: StackInfo, stack_paths: StackPaths, client: Client, victim: OrderRequest
) -> None:
    before = await snapshot(stack, victim.order_id)
    sealed = await orders_client.sealer_for(client).seal(
        "payment_reference", victim.order_id, "tok-4242", victim.customer_id
    )
    request = PaymentRequest(order_id=victim.order_id, payment_reference=sealed)
    async with support.acting_as(stack, stack_paths, identities.ORDER_PROCESS_PAYMENT) as acting:
        pay = ProcessPayment(acting.engine, acting.unsealer)
        with pytest.raises(ApplicationError) as failure:
            await support.run_activity_as_run(intruder(), pay.process_payment, request)
    assert failure.value.type == FOREIGN_RUN
    assert await snapshot(stack, victim.order_id) == before


async def test_another_runs_compensations_leave_the_victims_order_untouched(
    stack: StackInfo, stack_paths: StackPaths, victim: OrderRequest
) -> None:
    before = await snapshot(stack, victim.order_id)
    assert [r["status"] for r in before["reservations"]] == ["held"]
    assert [r["status"] for r in before["payments"]] == ["captured"]
    ref = OrderRef(order_id=victim.order_id)
    run_id = intruder()
    async with support.acting_as(stack, stack_paths, identities.ORDER_REFUND_PAYMENT) as acting:
        with pytest.raises(ApplicationError) as failure:
            await support.run_activity_as_run(
                run_id, RefundPayment(acting.engine).refund_payment, ref
            )
    # The answer for "no payment of this run": nothing of the victim's payment in it.
    assert failure.value.type == NOT_RECORDED
    assert str(before["payments"][0]["amount_cents"]) not in failure.value.message
    async with support.acting_as(stack, stack_paths, identities.ORDER_RELEASE_INVENTORY) as acting:
        released = await support.run_activity_as_run(
            run_id, ReleaseInventory(acting.engine).release_inventory, ref
        )
    assert released.skus == ()
    assert await snapshot(stack, victim.order_id) == before
