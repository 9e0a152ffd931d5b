"""process_payment and refund_payment against a real Postgres."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError

from activities._support import NOT_RECORDED
from activities.payment import ProcessPayment, transaction_id_for
from activities.refund import RefundPayment
from activities.validate import ValidateOrder
from orders import identities
from orders.models import BusinessError, OrderRef, PaymentRequest
from tests.unit.activities.helpers import Engines, count, new_order, new_sku, run
from tests.unit.db.pg_cluster import OrdersDb, fetch


async def _recorded_order(orders_db: OrdersDb, engines: Engines, currency: str = "EUR") -> str:
    sku = await new_sku(orders_db, price_cents=1234)
    order = new_order((sku, 2), currency=currency)
    await run(ValidateOrder(await engines(identities.ORDER_VALIDATE)).validate_order, order)
    return order.order_id


async def _pay(engines: Engines) -> ProcessPayment:
    return ProcessPayment(await engines(identities.ORDER_PROCESS_PAYMENT))


async def _refund(engines: Engines) -> RefundPayment:
    return RefundPayment(await engines(identities.ORDER_REFUND_PAYMENT))


async def test_captures_the_recorded_amount_once(orders_db: OrdersDb, engines: Engines) -> None:
    order_id = await _recorded_order(orders_db, engines, currency="CHF")
    pay = await _pay(engines)
    request = PaymentRequest(order_id=order_id, payment_reference="tok_visa_4242")

    first = await run(pay.process_payment, request)
    second = await run(pay.process_payment, request)

    assert first == second
    assert first.amount_cents == 2468
    assert first.currency == "CHF"
    assert first.status == "captured"
    assert first.transaction_id == transaction_id_for(order_id)
    assert await count(orders_db, "payments", order_id) == 1
    # Nothing of the payment reference is stored.
    (row,) = await fetch(
        orders_db, "SELECT p::text AS r FROM orders.payments p WHERE order_id = $1", order_id
    )
    assert "4242" not in row["r"]


async def test_decline_records_nothing(orders_db: OrdersDb, engines: Engines) -> None:
    order_id = await _recorded_order(orders_db, engines)
    request = PaymentRequest(order_id=order_id, payment_reference="decline-insufficient-funds")

    with pytest.raises(ApplicationError) as failure:
        await run((await _pay(engines)).process_payment, request)

    assert failure.value.type == BusinessError.PAYMENT_DECLINED
    assert failure.value.non_retryable
    assert "insufficient" not in failure.value.message
    assert await count(orders_db, "payments", order_id) == 0


async def test_payment_for_an_unrecorded_order_is_not_retried(engines: Engines) -> None:
    request = PaymentRequest(order_id="ord-missing-1", payment_reference="tok_visa_4242")
    with pytest.raises(ApplicationError) as failure:
        await run((await _pay(engines)).process_payment, request)
    assert failure.value.type == NOT_RECORDED
    assert failure.value.non_retryable


async def test_refund_once_and_idempotently(orders_db: OrdersDb, engines: Engines) -> None:
    order_id = await _recorded_order(orders_db, engines)
    captured = await run(
        (await _pay(engines)).process_payment,
        PaymentRequest(order_id=order_id, payment_reference="tok_visa_4242"),
    )
    refund = await _refund(engines)

    first = await run(refund.refund_payment, OrderRef(order_id=order_id))
    second = await run(refund.refund_payment, OrderRef(order_id=order_id))

    assert first == second
    assert first.status == "refunded"
    assert first.transaction_id == captured.transaction_id
    assert first.amount_cents == captured.amount_cents
    (row,) = await fetch(
        orders_db,
        "SELECT status, refunded_at FROM orders.payments WHERE order_id = $1",
        order_id,
    )
    assert row["status"] == "refunded"
    assert row["refunded_at"] is not None


async def test_refund_without_payment_is_not_retried(orders_db: OrdersDb, engines: Engines) -> None:
    order_id = await _recorded_order(orders_db, engines)
    with pytest.raises(ApplicationError) as failure:
        await run((await _refund(engines)).refund_payment, OrderRef(order_id=order_id))
    assert failure.value.type == NOT_RECORDED
    assert failure.value.non_retryable
