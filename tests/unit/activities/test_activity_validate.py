"""validate_order against a real Postgres, as the order-validate group's login role.

Orders arrive sealed (by the real client-side Sealer against a dev OpenBao) and their
need-to-know fields are stored sealed: the row holds ciphertext, never the PII.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from temporalio.exceptions import ApplicationError

from activities.validate import ValidateOrder
from orders import identities
from orders.models import BusinessError
from orders.security.sealing import Sealer
from tests.unit.activities.helpers import (
    ADDRESS,
    EMAIL,
    Engines,
    count,
    new_order,
    new_sku,
    run,
)
from tests.unit.db.pg_cluster import OrdersDb, fetch


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
        with pytest.raises(ProgrammingError, match="permission denied"):
            await conn.execute(text("SELECT id FROM orders.orders"))
