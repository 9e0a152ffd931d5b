"""reserve_inventory and release_inventory against a real Postgres."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError

from activities._support import FOREIGN_RUN
from activities.release_inventory import ReleaseInventory
from activities.reserve_inventory import ReserveInventory
from activities.validate import ValidateOrder
from orders.contract import identities
from orders.models import BusinessError, OrderRef, OrderRequest, ReserveRequest
from orders.security.sealing import Sealer
from tests.support.activities import (
    DEFAULT_RUN,
    Engines,
    count,
    new_order,
    new_sku,
    run,
    run_as,
    stock,
)
from tests.support.postgres import OrdersDb, fetch


async def _recorded(engines: Engines, sealer: Sealer, order: OrderRequest) -> ReserveRequest:
    sealed = await sealer.seal_order(order)
    await run(ValidateOrder(await engines(identities.ORDER_VALIDATE)).validate_order, sealed)
    return ReserveRequest(order_id=order.order_id, items=order.items)


async def _reserve(engines: Engines) -> ReserveInventory:
    return ReserveInventory(await engines(identities.ORDER_RESERVE_INVENTORY))


async def _release(engines: Engines) -> ReleaseInventory:
    return ReleaseInventory(await engines(identities.ORDER_RELEASE_INVENTORY))


async def test_reserve_moves_stock_to_reserved(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer
) -> None:
    a = await new_sku(orders_db, available=10)
    b = await new_sku(orders_db, available=5)
    request = await _recorded(engines, sealer, new_order((a, 3), (b, 5)))

    result = await run((await _reserve(engines)).reserve_inventory, request)

    assert result.status == "held"
    assert set(result.skus) == {a, b}
    assert await stock(orders_db, a) == (7, 3)
    assert await stock(orders_db, b) == (0, 5)


async def test_reserve_twice_holds_once(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer
) -> None:
    sku = await new_sku(orders_db, available=10)
    request = await _recorded(engines, sealer, new_order((sku, 4)))
    reserve = await _reserve(engines)

    first = await run(reserve.reserve_inventory, request)
    second = await run(reserve.reserve_inventory, request)

    assert first == second
    assert await stock(orders_db, sku) == (6, 4)
    assert await count(orders_db, "reservations", request.order_id) == 1


async def test_out_of_stock_names_the_sku_and_holds_nothing(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer
) -> None:
    plenty = await new_sku(orders_db, available=100)
    scarce = await new_sku(orders_db, available=1)
    request = await _recorded(engines, sealer, new_order((plenty, 2), (scarce, 2)))

    with pytest.raises(ApplicationError) as failure:
        await run((await _reserve(engines)).reserve_inventory, request)

    assert failure.value.type == BusinessError.OUT_OF_STOCK
    assert failure.value.non_retryable
    assert scarce in failure.value.message
    assert plenty not in failure.value.message
    # One transaction: the item that did fit was rolled back too.
    assert await stock(orders_db, plenty) == (100, 0)
    assert await stock(orders_db, scarce) == (1, 0)
    assert await count(orders_db, "reservations", request.order_id) == 0


async def test_seeded_sold_out_sku_is_out_of_stock(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer
) -> None:
    request = await _recorded(engines, sealer, new_order(("SKU-SOLDOUT", 1)))
    with pytest.raises(ApplicationError) as failure:
        await run((await _reserve(engines)).reserve_inventory, request)
    assert failure.value.type == BusinessError.OUT_OF_STOCK
    assert "SKU-SOLDOUT" in failure.value.message


async def test_release_returns_stock_once(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer
) -> None:
    a = await new_sku(orders_db, available=10)
    b = await new_sku(orders_db, available=10)
    request = await _recorded(engines, sealer, new_order((a, 3), (b, 1)))
    await run((await _reserve(engines)).reserve_inventory, request)
    release = await _release(engines)
    ref = OrderRef(order_id=request.order_id)

    first = await run(release.release_inventory, ref)
    second = await run(release.release_inventory, ref)

    assert first == second
    assert first.status == "released"
    assert set(first.skus) == {a, b}
    assert await stock(orders_db, a) == (10, 0)
    assert await stock(orders_db, b) == (10, 0)
    rows = await fetch(
        orders_db, "SELECT status FROM orders.reservations WHERE order_id = $1", ref.order_id
    )
    assert [r["status"] for r in rows] == ["released", "released"]


async def test_release_with_nothing_held_changes_nothing(engines: Engines) -> None:
    result = await run((await _release(engines)).release_inventory, OrderRef(order_id="ord-none"))
    assert result.skus == ()
    assert result.status == "released"


async def test_reserve_after_release_does_not_hold_again(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer
) -> None:
    sku = await new_sku(orders_db, available=10)
    request = await _recorded(engines, sealer, new_order((sku, 2)))
    reserve = await _reserve(engines)
    await run(reserve.reserve_inventory, request)
    await run((await _release(engines)).release_inventory, OrderRef(order_id=request.order_id))

    late = await run(reserve.reserve_inventory, request)

    assert late.status == "released"
    assert await stock(orders_db, sku) == (10, 0)


async def test_reserve_never_adopts_another_runs_reservations(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer
) -> None:
    held = await new_sku(orders_db, available=10)
    other = await new_sku(orders_db, available=10)
    request = await _recorded(engines, sealer, new_order((held, 2)))
    reserve = await _reserve(engines)
    await run(reserve.reserve_inventory, request)
    # Another run brings the same order id with one more item.
    wider = ReserveRequest(
        order_id=request.order_id, items=(*request.items, *new_order((other, 1)).items)
    )

    with pytest.raises(ApplicationError) as failure:
        await run_as("run-intruder", reserve.reserve_inventory, wider)

    assert failure.value.type == FOREIGN_RUN
    assert failure.value.non_retryable
    # Rolled back: the intruder's own row and stock movement were never committed.
    assert await stock(orders_db, other) == (10, 0)
    assert await stock(orders_db, held) == (8, 2)
    rows = await fetch(
        orders_db,
        "SELECT sku, run_id FROM orders.reservations WHERE order_id = $1",
        request.order_id,
    )
    assert [(r["sku"], r["run_id"]) for r in rows] == [(held, DEFAULT_RUN)]


async def test_release_by_another_run_leaves_the_order_held(
    orders_db: OrdersDb, engines: Engines, sealer: Sealer
) -> None:
    sku = await new_sku(orders_db, available=10)
    request = await _recorded(engines, sealer, new_order((sku, 3)))
    await run((await _reserve(engines)).reserve_inventory, request)
    ref = OrderRef(order_id=request.order_id)

    result = await run_as("run-intruder", (await _release(engines)).release_inventory, ref)

    assert result.skus == ()
    assert await stock(orders_db, sku) == (7, 3)
    rows = await fetch(
        orders_db, "SELECT status FROM orders.reservations WHERE order_id = $1", ref.order_id
    )
    assert [r["status"] for r in rows] == ["held"]
    # Its own run still releases it.
    assert (await run((await _release(engines)).release_inventory, ref)).skus == (sku,)
    assert await stock(orders_db, sku) == (10, 0)
