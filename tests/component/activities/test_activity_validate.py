"""validate_order against a real Postgres, as the order-validate group's login role.

Orders arrive sealed (by the real client-side Sealer against a dev OpenBao) and their
need-to-know fields are stored sealed: the row holds ciphertext, never the PII.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from temporalio.exceptions import ApplicationError

from activities._support import NO_WORKFLOW_RUN
from activities.validate import ValidateOrder
from orders.contract import identities
from orders.models import BusinessError
from orders.security.sealing import Sealer
from tests.support.activities import (
    ADDRESS,
    DEFAULT_RUN,
    EMAIL,
    Engines,
    count,
    new_order,
    new_sku,
    run,
    run_as,
)
from tests.support.postgres import OrdersDb, execute, fetch


async def test_records_the_order_priced_from_the_catalogue(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer
) -> None:
    cheap = await new_sku(orders_db, price_cents=250)
    dear = await new_sku(orders_db, price_cents=1999)
    order = await sealer.seal_order(new_order((cheap, 4), (dear, 1)))
    acts = ValidateOrder(await engines(identities.ORDER_VALIDATE))

    result = await run(acts.validate_order, order)

    assert result.order_id == order.order_id
    assert result.total_cents == 4 * 250 + 1999
    assert result.currency == "EUR"
    assert result.item_count == 2
    (row,) = await fetch(
        orders_db,
        "SELECT total_cents, currency, customer_email, shipping_address FROM orders.orders"
        " WHERE id = $1",
        order.order_id,
    )
    assert (row["total_cents"], row["currency"]) == (2999, "EUR")
    # Stored exactly as sealed: encrypted at rest, openable only by each field's consumer.
    assert row["customer_email"] == order.customer_email
    assert row["shipping_address"] == order.shipping_address
    assert EMAIL not in str(dict(row))
    assert ADDRESS not in str(dict(row))
    items = await fetch(
        orders_db,
        "SELECT sku, quantity, unit_price_cents FROM orders.order_items WHERE order_id = $1"
        " ORDER BY unit_price_cents",
        order.order_id,
    )
    assert [(r["sku"], r["quantity"], r["unit_price_cents"]) for r in items] == [
        (cheap, 4, 250),
        (dear, 1, 1999),
    ]


async def test_retry_after_commit_is_a_success_with_one_row(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer
) -> None:
    sku = await new_sku(orders_db, price_cents=700)
    order = await sealer.seal_order(new_order((sku, 3)))
    acts = ValidateOrder(await engines(identities.ORDER_VALIDATE))

    first = await run(acts.validate_order, order)
    second = await run(acts.validate_order, order)

    assert first == second
    assert await count(orders_db, "orders", order.order_id) == 1
    assert await count(orders_db, "order_items", order.order_id) == 1
    (row,) = await fetch(
        orders_db, "SELECT run_id FROM orders.orders WHERE id = $1", order.order_id
    )
    assert row["run_id"] == DEFAULT_RUN


async def test_retry_answers_with_the_recorded_total_not_a_recomputed_one(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer
) -> None:
    sku = await new_sku(orders_db, price_cents=700)
    order = await sealer.seal_order(new_order((sku, 3)))
    acts = ValidateOrder(await engines(identities.ORDER_VALIDATE))
    first = await run(acts.validate_order, order)
    # The catalogue changes between the committed attempt and its retry.
    await execute(orders_db, "UPDATE orders.inventory SET price_cents = 1 WHERE sku = $1", sku)

    second = await run(acts.validate_order, order)

    assert second.total_cents == first.total_cents == 2100


async def test_an_order_id_recorded_by_another_run_is_a_duplicate_touching_nothing(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer
) -> None:
    dear = await new_sku(orders_db, price_cents=149900)
    cheap = await new_sku(orders_db, price_cents=899)
    first = await sealer.seal_order(new_order((dear, 2)))
    acts = ValidateOrder(await engines(identities.ORDER_VALIDATE))
    await run_as("run-first", acts.validate_order, first)
    # The same order id with other items, as a second run would bring it.
    second = await sealer.seal_order(
        new_order((cheap, 1)).model_copy(update={"order_id": first.order_id})
    )

    with pytest.raises(ApplicationError) as failure:
        await run_as("run-second", acts.validate_order, second)

    assert failure.value.type == BusinessError.DUPLICATE_ORDER
    assert failure.value.non_retryable
    assert first.order_id in failure.value.message
    assert "149900" not in failure.value.message
    (row,) = await fetch(
        orders_db, "SELECT total_cents, run_id FROM orders.orders WHERE id = $1", first.order_id
    )
    assert (row["total_cents"], row["run_id"]) == (2 * 149900, "run-first")
    items = await fetch(
        orders_db, "SELECT sku FROM orders.order_items WHERE order_id = $1", first.order_id
    )
    assert [r["sku"] for r in items] == [dear]


async def test_an_order_recorded_before_runs_were_recorded_is_a_duplicate(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer
) -> None:
    sku = await new_sku(orders_db)
    order = await sealer.seal_order(new_order((sku, 1)))
    acts = ValidateOrder(await engines(identities.ORDER_VALIDATE))
    await run(acts.validate_order, order)
    await execute(orders_db, "UPDATE orders.orders SET run_id = NULL WHERE id = $1", order.order_id)

    with pytest.raises(ApplicationError) as failure:
        await run(acts.validate_order, order)

    assert failure.value.type == BusinessError.DUPLICATE_ORDER


async def test_outside_a_workflow_run_nothing_is_recorded(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer
) -> None:
    order = await sealer.seal_order(new_order((await new_sku(orders_db), 1)))
    acts = ValidateOrder(await engines(identities.ORDER_VALIDATE))

    with pytest.raises(ApplicationError) as failure:
        await run_as(None, acts.validate_order, order)

    assert failure.value.type == NO_WORKFLOW_RUN
    assert failure.value.non_retryable
    assert await count(orders_db, "orders", order.order_id) == 0


async def test_unknown_sku_is_an_invalid_order_naming_it(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer
) -> None:
    known = await new_sku(orders_db)
    order = await sealer.seal_order(new_order((known, 1), ("NO-SUCH-SKU", 2)))
    acts = ValidateOrder(await engines(identities.ORDER_VALIDATE))

    with pytest.raises(ApplicationError) as failure:
        await run(acts.validate_order, order)

    assert failure.value.type == BusinessError.INVALID_ORDER
    assert failure.value.non_retryable
    assert "NO-SUCH-SKU" in failure.value.message
    assert known not in failure.value.message
    assert await count(orders_db, "orders", order.order_id) == 0


async def test_engine_really_is_restricted(engines: Engines) -> None:
    # The activity tests only prove the grants suffice if the engine cannot do more.
    engine = await engines(identities.ORDER_VALIDATE)
    async with engine.connect() as conn:
        # It reads back whose run recorded an order and its amount, never the sealed PII.
        with pytest.raises(ProgrammingError, match="permission denied"):
            await conn.execute(text("SELECT customer_email FROM orders.orders"))
