"""fulfill_order and notify_customer against a real Postgres and OpenBao; no PII in logs.

The address and e-mail are stored sealed by validate_order; each activity unseals only
its own field with its own Vault token.
"""

from __future__ import annotations

import logging

import pytest
from temporalio.exceptions import ApplicationError

from activities._support import CUSTOMER_ERASED, SEALED_FIELD_DENIED, SEALED_FIELD_INVALID
from activities.fulfill import FulfillOrder, tracking_number_for
from activities.notify import NotifyCustomer
from activities.validate import ValidateOrder
from orders.contract import identities
from orders.contract.transit_names import customer_key
from orders.models import BusinessError, OrderRef, SealedOrder
from orders.security.sealing import Sealer, customer_tag
from tests.support.activities import (
    ADDRESS,
    EMAIL,
    Engines,
    Unsealers,
    count,
    new_order,
    new_sku,
    run,
)
from tests.support.openbao import Transits
from tests.support.postgres import OrdersDb

FULFILL, NOTIFY = identities.ORDER_FULFILL, identities.ORDER_NOTIFY


async def _record(engines: Engines, order: SealedOrder) -> OrderRef:
    await run(ValidateOrder(await engines(identities.ORDER_VALIDATE)).validate_order, order)
    return OrderRef(order_id=order.order_id)


async def _recorded(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer, address: str = ADDRESS
) -> OrderRef:
    sku = await new_sku(orders_db)
    return await _record(engines, await sealer.seal_order(new_order((sku, 1), address=address)))


async def _fulfill(engines: Engines, unsealers: Unsealers) -> FulfillOrder:
    return FulfillOrder(await engines(FULFILL), unsealers(FULFILL))


class RecordingMailer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def send(self, *, order_id: str, recipient: str, kind: str) -> None:
        self.sent.append((order_id, recipient, kind))


async def test_fulfill_creates_one_shipment(
    orders_db: OrdersDb,
    engines: Engines,
    sealer: Sealer,
    unsealers: Unsealers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ref = await _recorded(orders_db, engines, sealer)
    fulfill = await _fulfill(engines, unsealers)
    caplog.set_level(logging.DEBUG)

    first = await run(fulfill.fulfill_order, ref)
    second = await run(fulfill.fulfill_order, ref)

    assert first == second
    assert first.tracking_number == tracking_number_for(ref.order_id)
    assert await count(orders_db, "shipments", ref.order_id) == 1
    assert "Main Street" not in caplog.text


@pytest.mark.parametrize("address", ["Undeliverable Lane 1, Nowhere", "Box 9, UNDELIVERABLE zone"])
async def test_undeliverable_address_records_nothing_and_leaks_nothing(
    orders_db: OrdersDb,
    engines: Engines,
    sealer: Sealer,
    unsealers: Unsealers,
    caplog: pytest.LogCaptureFixture,
    address: str,
) -> None:
    ref = await _recorded(orders_db, engines, sealer, address=address)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ApplicationError) as failure:
        await run((await _fulfill(engines, unsealers)).fulfill_order, ref)

    assert failure.value.type == BusinessError.UNDELIVERABLE
    assert failure.value.non_retryable
    assert address not in failure.value.message
    assert address not in caplog.text
    assert await count(orders_db, "shipments", ref.order_id) == 0


async def test_word_match_only(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer, unsealers: Unsealers
) -> None:
    ref = await _recorded(orders_db, engines, sealer, address="Undeliverablestrasse 5, Bern")
    shipment = await run((await _fulfill(engines, unsealers)).fulfill_order, ref)
    assert shipment.order_id == ref.order_id


async def test_address_copied_from_another_orders_row_does_not_open(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer, unsealers: Unsealers
) -> None:
    # Whoever can write the orders table still cannot redirect a shipment with another
    # order's (validly sealed) address: the seal is bound to the order id.
    sku = await new_sku(orders_db)
    donor = await sealer.seal_order(new_order((sku, 1), address="9 Elsewhere Road, Oslo"))
    victim = await sealer.seal_order(new_order((sku, 1)))
    ref = await _record(
        engines, victim.model_copy(update={"shipping_address": donor.shipping_address})
    )

    with pytest.raises(ApplicationError) as failure:
        await run((await _fulfill(engines, unsealers)).fulfill_order, ref)

    assert failure.value.type == SEALED_FIELD_INVALID
    assert failure.value.non_retryable
    assert await count(orders_db, "shipments", ref.order_id) == 0


async def test_fulfill_with_another_identitys_vault_token_is_denied(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer, unsealers: Unsealers
) -> None:
    # The notify policy opens e-mails, not addresses: Vault says 403.
    ref = await _recorded(orders_db, engines, sealer)
    fulfill = FulfillOrder(await engines(FULFILL), unsealers(FULFILL, token_of=NOTIFY))

    with pytest.raises(ApplicationError) as failure:
        await run(fulfill.fulfill_order, ref)

    assert failure.value.type == SEALED_FIELD_DENIED
    assert failure.value.non_retryable
    assert await count(orders_db, "shipments", ref.order_id) == 0


async def test_notify_sends_once_to_the_recorded_address(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer, unsealers: Unsealers
) -> None:
    ref = await _recorded(orders_db, engines, sealer)
    mailer = RecordingMailer()
    notify = NotifyCustomer(await engines(NOTIFY), unsealers(NOTIFY), mailer)

    first = await run(notify.notify_customer, ref)
    second = await run(notify.notify_customer, ref)

    assert first == second
    assert first.kind == "order_completed"
    # The mail service gets the plaintext: the one place it is needed.
    assert mailer.sent == [(ref.order_id, EMAIL, "order_completed")]
    assert await count(orders_db, "notifications", ref.order_id) == 1


async def test_default_mailer_never_logs_the_address(
    orders_db: OrdersDb,
    engines: Engines,
    sealer: Sealer,
    unsealers: Unsealers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ref = await _recorded(orders_db, engines, sealer)
    caplog.set_level(logging.DEBUG)

    await run(NotifyCustomer(await engines(NOTIFY), unsealers(NOTIFY)).notify_customer, ref)

    assert ref.order_id in caplog.text
    assert EMAIL not in caplog.text
    assert "example.com" not in caplog.text


async def test_notify_with_another_identitys_vault_token_is_denied(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer, unsealers: Unsealers
) -> None:
    ref = await _recorded(orders_db, engines, sealer)
    mailer = RecordingMailer()
    notify = NotifyCustomer(
        await engines(NOTIFY), unsealers(NOTIFY, token_of=identities.ORDER_VALIDATE), mailer
    )

    with pytest.raises(ApplicationError) as failure:
        await run(notify.notify_customer, ref)

    assert failure.value.type == SEALED_FIELD_DENIED
    assert mailer.sent == []
    assert await count(orders_db, "notifications", ref.order_id) == 0


async def test_an_erased_customers_order_gives_a_final_erased_outcome(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer, unsealers: Unsealers, transits: Transits
) -> None:
    # Re-opened after `orders customer forget`: neither step can ever open the fields again.
    sku = await new_sku(orders_db)
    plain = new_order((sku, 1)).model_copy(update={"customer_id": f"cust-gone-{sku[-8:]}"})
    sealed = await sealer.seal_order(plain)
    ref = await _record(engines, sealed)
    eraser = transits(identities.CUSTOMER_ERASER)
    assert await eraser.destroy_key(customer_key(str(customer_tag(sealed.shipping_address))))

    mailer = RecordingMailer()
    notify = NotifyCustomer(await engines(NOTIFY), unsealers(NOTIFY), mailer)
    for step in ((await _fulfill(engines, unsealers)).fulfill_order, notify.notify_customer):
        with pytest.raises(ApplicationError) as failure:
            await run(step, ref)
        assert failure.value.type == CUSTOMER_ERASED
        assert failure.value.non_retryable
        assert "erased" in str(failure.value)
    assert mailer.sent == []
    assert await count(orders_db, "shipments", ref.order_id) == 0
