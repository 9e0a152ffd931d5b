"""Invalid orders through the real client path: refused clearly, nothing written, no task fails.

Hypothesis draws the sample. Orders the model refuses never reach Temporal or Postgres;
orders the model accepts but the business refuses (SKUs not in the catalogue, more than
the stock) run their workflow to an outcome naming the problem, write nothing but what
the outcome implies, and fail no workflow task.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from orders import client as orders_client
from orders.db.schema import RESERVATION_HELD
from orders.devstack.state import StackInfo
from orders.models import SKU_PATTERN, OrderItem, Outcome
from tests.support import stack as support
from tests.support.models import valid_orders

pytestmark = pytest.mark.integration

CATALOGUE = {"SKU-WIDGET", "SKU-GADGET", "SKU-GIZMO", "SKU-CABLE", "SKU-LAPTOP", "SKU-SOLDOUT"}
SAMPLE = settings(max_examples=12, deadline=None, database=None)


def _draw(strategy: st.SearchStrategy[Any]) -> list[Any]:
    """Examples of ``strategy`` as Hypothesis generates them (for async use below)."""
    drawn: list[Any] = []

    @SAMPLE
    @given(strategy)
    def collect(value: Any) -> None:
        drawn.append(value)

    collect()
    return drawn


def _spoil(data: dict[str, Any], change: tuple[str, Any]) -> dict[str, Any]:
    field, value = change
    if field == "quantity":
        return {**data, "items": [{"sku": "SKU-WIDGET", "quantity": value}]}
    if field == "sku":
        return {**data, "items": [{"sku": value, "quantity": 1}]}
    return {**data, field: value}


SPOILERS = st.one_of(
    st.tuples(st.just("quantity"), st.one_of(st.integers(max_value=0), st.integers(10**4))),
    st.tuples(
        st.just("sku"),
        st.text(max_size=12).filter(lambda s: not re.fullmatch(SKU_PATTERN, s.strip())),
    ),
    st.tuples(st.just("currency"), st.sampled_from(["XXX", "eur", "€", "EURO", ""])),
    st.tuples(st.just("customer_email"), st.text(alphabet="äöü@ ", max_size=30)),
    st.tuples(st.just("shipping_address"), st.integers(501, 5000).map(lambda n: "Ω" * n)),
    st.tuples(st.just("customer_id"), st.text(alphabet="🙂 /\\", min_size=1, max_size=80)),
)


async def _rows(stack: StackInfo, order_ids: list[str]) -> dict[str, int]:
    conn = await support.admin_pg(stack)
    try:
        counts = {}
        for table in ("orders", "order_items", "payments", "shipments", "notifications"):
            column = "id" if table == "orders" else "order_id"
            counts[table] = await conn.fetchval(
                f"SELECT count(*) FROM orders.{table} WHERE {column} = ANY($1::text[])", order_ids
            )
        counts["held"] = await conn.fetchval(
            "SELECT count(*) FROM orders.reservations WHERE order_id = ANY($1::text[])"
            " AND status = $2",
            order_ids,
            RESERVATION_HELD,
        )
        return counts
    finally:
        await conn.close()


async def test_invalid_orders_are_refused_and_write_nothing(
    stack: StackInfo, client: Client
) -> None:
    # Refused by the model: an InvalidOrderError naming the field, nothing started.
    bad = _draw(st.tuples(valid_orders, SPOILERS))
    ids = [f"bad-input-{i:04d}-{support.make_order().order_id[-8:]}" for i in range(len(bad))]
    for oid, (data, change) in zip(ids, bad, strict=True):
        with pytest.raises(orders_client.InvalidOrderError) as refused:
            orders_client.parse_order({**_spoil(data, change), "order_id": oid})
        named = {field for field, _ in refused.value.problems}
        assert any(change[0] in f for f in named), (change[0], named)
    for oid in ids:
        with pytest.raises(RPCError) as missing:
            await client.get_workflow_handle(f"order-{oid}").describe()
        assert missing.value.status is RPCStatusCode.NOT_FOUND
    assert set((await _rows(stack, ids)).values()) == {0}

    # Accepted by the model, refused by the business: an outcome, never a failed task.
    unknown = _draw(st.from_regex(SKU_PATTERN, fullmatch=True).filter(lambda s: s not in CATALOGUE))
    orders = [support.make_order("bad-sku", sku) for sku in unknown[:6]]
    too_many = support.make_order("bad-qty")
    orders.append(
        too_many.model_copy(update={"items": (OrderItem(sku="SKU-LAPTOP", quantity=999),)})
    )
    results = await asyncio.gather(*(support.complete(client, o) for o in orders))
    for order, result in zip(orders[:-1], results[:-1], strict=True):
        assert result.outcome is Outcome.INVALID
        assert result.reason == f"unknown SKU: {order.items[0].sku}"
    assert results[-1].outcome is Outcome.OUT_OF_STOCK  # reserved before any approval
    ids = [o.order_id for o in orders]
    written = await _rows(stack, ids)
    assert written["orders"] == 1  # only the over-stock order is a valid order
    assert written["payments"] == written["shipments"] == written["held"] == 0
    for order in orders:
        history = await client.get_workflow_handle(order.workflow_id).fetch_history()
        failed = [
            e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
        ]
        assert failed == [], order.order_id
