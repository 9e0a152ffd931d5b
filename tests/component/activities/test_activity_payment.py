"""process_payment and refund_payment against a real Postgres and a real OpenBao.

The payment reference arrives sealed to order-process-payment and bound to the order; the
activity unseals it with its own Vault token, applies the simulator's rule to the
plaintext, and stores, logs and returns nothing of it.
"""

from __future__ import annotations

import logging

import pytest
from temporalio.exceptions import ApplicationError

from activities._support import (
    FOREIGN_RUN,
    NOT_RECORDED,
    SEALED_FIELD_DENIED,
    SEALED_FIELD_INVALID,
)
from activities.payment import ProcessPayment, transaction_id_for
from activities.refund import RefundPayment
from activities.validate import ValidateOrder
from orders.contract import identities
from orders.models import BusinessError, OrderRef, PaymentRequest
from orders.security.sealing import Sealer, Unsealer
from orders.security.vault import VaultUnavailableError
from tests.support.activities import (
    DEFAULT_RUN,
    REFERENCE,
    Engines,
    Unsealers,
    count,
    new_order,
    new_sku,
    run,
    run_as,
)
from tests.support.openbao import unreachable_transit
from tests.support.postgres import OrdersDb, execute, fetch

PAYMENT = identities.ORDER_PROCESS_PAYMENT


async def _recorded_order(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer, currency: str = "EUR"
) -> str:
    sku = await new_sku(orders_db, price_cents=1234)
    order = await sealer.seal_order(new_order((sku, 2), currency=currency))
    await run(ValidateOrder(await engines(identities.ORDER_VALIDATE)).validate_order, order)
    return order.order_id


async def _request(sealer: Sealer, order_id: str, reference: str = REFERENCE) -> PaymentRequest:
    sealed = await sealer.seal("payment_reference", order_id, reference, "cust-payment")
    return PaymentRequest(order_id=order_id, payment_reference=sealed)


async def _pay(engines: Engines, unsealer: Unsealer) -> ProcessPayment:
    return ProcessPayment(await engines(PAYMENT), unsealer)


async def _refund(engines: Engines) -> RefundPayment:
    return RefundPayment(await engines(identities.ORDER_REFUND_PAYMENT))


async def test_captures_the_recorded_amount_once(
    orders_db: OrdersDb,
    engines: Engines,
    sealer: Sealer,
    unsealers: Unsealers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    order_id = await _recorded_order(orders_db, engines, sealer, currency="CHF")
    pay = await _pay(engines, unsealers(PAYMENT))
    request = await _request(sealer, order_id)
    caplog.set_level(logging.DEBUG)

    first = await run(pay.process_payment, request)
    second = await run(pay.process_payment, request)

    assert first == second
    assert first.amount_cents == 2468
    assert first.currency == "CHF"
    assert first.status == "captured"
    assert first.transaction_id == transaction_id_for(order_id)
    assert await count(orders_db, "payments", order_id) == 1
    # Nothing of the payment reference is stored, logged or returned.
    (row,) = await fetch(
        orders_db, "SELECT p::text AS r FROM orders.payments p WHERE order_id = $1", order_id
    )
    assert "4242" not in row["r"]
    assert "4242" not in caplog.text
    assert "4242" not in first.model_dump_json()


async def test_decline_applies_to_the_unsealed_reference(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer, unsealers: Unsealers
) -> None:
    order_id = await _recorded_order(orders_db, engines, sealer)
    request = await _request(sealer, order_id, "decline-insufficient-funds")

    with pytest.raises(ApplicationError) as failure:
        await run((await _pay(engines, unsealers(PAYMENT))).process_payment, request)

    assert failure.value.type == BusinessError.PAYMENT_DECLINED
    assert failure.value.non_retryable
    assert "insufficient" not in failure.value.message
    assert await count(orders_db, "payments", order_id) == 0


async def test_payment_for_an_unrecorded_order_is_not_retried(
    engines: Engines, sealer: Sealer, unsealers: Unsealers
) -> None:
    request = await _request(sealer, "ord-missing-1")
    with pytest.raises(ApplicationError) as failure:
        await run((await _pay(engines, unsealers(PAYMENT))).process_payment, request)
    assert failure.value.type == NOT_RECORDED
    assert failure.value.non_retryable


async def test_reference_sealed_for_another_order_is_invalid(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer, unsealers: Unsealers
) -> None:
    order_id = await _recorded_order(orders_db, engines, sealer)
    other = await _request(sealer, await _recorded_order(orders_db, engines, sealer))
    moved = PaymentRequest(order_id=order_id, payment_reference=other.payment_reference)

    with pytest.raises(ApplicationError) as failure:
        await run((await _pay(engines, unsealers(PAYMENT))).process_payment, moved)

    assert failure.value.type == SEALED_FIELD_INVALID
    assert failure.value.non_retryable
    assert await count(orders_db, "payments", order_id) == 0


async def test_worker_with_another_identitys_vault_token_is_denied(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer, unsealers: Unsealers
) -> None:
    # Misconfiguration (the worker logged in as order-workflow): Vault answers 403, which
    # is no business outcome and no retry fixes.
    order_id = await _recorded_order(orders_db, engines, sealer)
    wrong = unsealers(PAYMENT, token_of=identities.ORDER_WORKFLOW)

    with pytest.raises(ApplicationError) as failure:
        await run((await _pay(engines, wrong)).process_payment, await _request(sealer, order_id))

    assert failure.value.type == SEALED_FIELD_DENIED
    assert failure.value.non_retryable
    assert await count(orders_db, "payments", order_id) == 0


async def test_vault_outage_is_retryable(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer
) -> None:
    # Not an ApplicationError: Temporal retries the activity until Vault is back.
    order_id = await _recorded_order(orders_db, engines, sealer)
    request = await _request(sealer, order_id)
    transit = unreachable_transit()
    try:
        pay = await _pay(engines, Unsealer(transit, PAYMENT))
        with pytest.raises(VaultUnavailableError):
            await run(pay.process_payment, request)
    finally:
        await transit.aclose()
    assert await count(orders_db, "payments", order_id) == 0


async def test_refund_once_and_idempotently(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer, unsealers: Unsealers
) -> None:
    order_id = await _recorded_order(orders_db, engines, sealer)
    captured = await run(
        (await _pay(engines, unsealers(PAYMENT))).process_payment,
        await _request(sealer, order_id),
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


async def test_refund_without_payment_is_not_retried(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer
) -> None:
    order_id = await _recorded_order(orders_db, engines, sealer)
    with pytest.raises(ApplicationError) as failure:
        await run((await _refund(engines)).refund_payment, OrderRef(order_id=order_id))
    assert failure.value.type == NOT_RECORDED
    assert failure.value.non_retryable


async def test_payment_for_an_order_another_run_recorded_is_refused(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer, unsealers: Unsealers
) -> None:
    order_id = await _recorded_order(orders_db, engines, sealer)
    pay = await _pay(engines, unsealers(PAYMENT))

    with pytest.raises(ApplicationError) as failure:
        await run_as("run-intruder", pay.process_payment, await _request(sealer, order_id))

    assert failure.value.type == FOREIGN_RUN
    assert failure.value.non_retryable
    assert await count(orders_db, "payments", order_id) == 0


async def test_payment_never_adopts_another_runs_payment(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer, unsealers: Unsealers
) -> None:
    order_id = await _recorded_order(orders_db, engines, sealer)
    pay = await _pay(engines, unsealers(PAYMENT))
    await run(pay.process_payment, await _request(sealer, order_id))
    # As if another run had recorded the order (validate refuses that; defence in depth).
    await execute(
        orders_db, "UPDATE orders.orders SET run_id = 'run-intruder' WHERE id = $1", order_id
    )

    with pytest.raises(ApplicationError) as failure:
        await run_as("run-intruder", pay.process_payment, await _request(sealer, order_id))

    assert failure.value.type == FOREIGN_RUN
    (row,) = await fetch(
        orders_db, "SELECT status, run_id FROM orders.payments WHERE order_id = $1", order_id
    )
    assert (row["status"], row["run_id"]) == ("captured", DEFAULT_RUN)


async def test_refund_by_another_run_changes_nothing_and_reveals_nothing(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer, unsealers: Unsealers
) -> None:
    order_id = await _recorded_order(orders_db, engines, sealer)
    await run(
        (await _pay(engines, unsealers(PAYMENT))).process_payment, await _request(sealer, order_id)
    )
    refund = await _refund(engines)

    with pytest.raises(ApplicationError) as failure:
        await run_as("run-intruder", refund.refund_payment, OrderRef(order_id=order_id))

    # The same answer as for an order without any payment: nothing of the victim's.
    assert failure.value.type == NOT_RECORDED
    assert "2468" not in failure.value.message
    (row,) = await fetch(
        orders_db, "SELECT status, refunded_at FROM orders.payments WHERE order_id = $1", order_id
    )
    assert (row["status"], row["refunded_at"]) == ("captured", None)
