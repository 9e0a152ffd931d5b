"""fulfill_order and notify_customer against a real Postgres; no PII in logs."""

from __future__ import annotations

import logging

import pytest
from temporalio.exceptions import ApplicationError

from activities.fulfill import FulfillOrder, tracking_number_for
from activities.notify import NotifyCustomer
from activities.validate import ValidateOrder
from orders import identities
from orders.models import BusinessError, OrderRef
from tests.unit.activities.helpers import EMAIL, Engines, count, new_order, new_sku, run
from tests.unit.db.pg_cluster import OrdersDb


async def _recorded(orders_db: OrdersDb, engines: Engines, address: str | None = None) -> OrderRef:
    sku = await new_sku(orders_db)
    order = new_order((sku, 1)) if address is None else new_order((sku, 1), address=address)
    await run(ValidateOrder(await engines(identities.ORDER_VALIDATE)).validate_order, order)
    return OrderRef(order_id=order.order_id)


class RecordingMailer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def send(self, *, order_id: str, recipient: str, kind: str) -> None:
        self.sent.append((order_id, recipient, kind))


async def test_fulfill_creates_one_shipment(orders_db: OrdersDb, engines: Engines) -> None:
    ref = await _recorded(orders_db, engines)
    fulfill = FulfillOrder(await engines(identities.ORDER_FULFILL))

    first = await run(fulfill.fulfill_order, ref)
    second = await run(fulfill.fulfill_order, ref)

    assert first == second
    assert first.tracking_number == tracking_number_for(ref.order_id)
    assert await count(orders_db, "shipments", ref.order_id) == 1


@pytest.mark.parametrize("address", ["Undeliverable Lane 1, Nowhere", "Box 9, UNDELIVERABLE zone"])
async def test_undeliverable_address_records_nothing_and_leaks_nothing(
    orders_db: OrdersDb, engines: Engines, caplog: pytest.LogCaptureFixture, address: str
) -> None:
    ref = await _recorded(orders_db, engines, address=address)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ApplicationError) as failure:
        await run(FulfillOrder(await engines(identities.ORDER_FULFILL)).fulfill_order, ref)

    assert failure.value.type == BusinessError.UNDELIVERABLE
    assert failure.value.non_retryable
    assert address not in failure.value.message
    assert address not in caplog.text
    assert await count(orders_db, "shipments", ref.order_id) == 0


async def test_word_match_only(orders_db: OrdersDb, engines: Engines) -> None:
    ref = await _recorded(orders_db, engines, address="Undeliverablestrasse 5, Bern")
    shipment = await run(FulfillOrder(await engines(identities.ORDER_FULFILL)).fulfill_order, ref)
    assert shipment.order_id == ref.order_id


async def test_notify_sends_once_to_the_recorded_address(
    orders_db: OrdersDb, engines: Engines
) -> None:
    ref = await _recorded(orders_db, engines)
    mailer = RecordingMailer()
    notify = NotifyCustomer(await engines(identities.ORDER_NOTIFY), mailer)

    first = await run(notify.notify_customer, ref)
    second = await run(notify.notify_customer, ref)

    assert first == second
    assert first.kind == "order_completed"
    assert mailer.sent == [(ref.order_id, EMAIL, "order_completed")]
    assert await count(orders_db, "notifications", ref.order_id) == 1


async def test_default_mailer_never_logs_the_address(
    orders_db: OrdersDb, engines: Engines, caplog: pytest.LogCaptureFixture
) -> None:
    ref = await _recorded(orders_db, engines)
    caplog.set_level(logging.DEBUG)

    await run(NotifyCustomer(await engines(identities.ORDER_NOTIFY)).notify_customer, ref)

    assert ref.order_id in caplog.text
    assert EMAIL not in caplog.text
    assert "example.com" not in caplog.text
