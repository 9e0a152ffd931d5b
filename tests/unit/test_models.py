"""Property tests of the order model: every bad input is refused naming its field.

Hypothesis generates invalid SKUs, negative and huge quantities, unicode and oversized
fields, and wrong currencies; each is refused by ``parse_order`` with an
``InvalidOrderError`` whose problems name the offending field and never echo its value
(which may be PII). Valid orders, however generated, are accepted unchanged.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from orders import client as orders_client
from orders.models import (
    CURRENCIES,
    MAX_ITEMS,
    MAX_QUANTITY,
    SKU_PATTERN,
    OrderRequest,
)
from tests.support.models import valid_orders

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def refused(data: dict[str, Any]) -> orders_client.InvalidOrderError:
    with pytest.raises(orders_client.InvalidOrderError) as caught:
        orders_client.parse_order(data)
    return caught.value


def fields(exc: orders_client.InvalidOrderError) -> set[str]:
    return {field for field, _ in exc.problems}


def assert_not_echoed(exc: orders_client.InvalidOrderError, value: object) -> None:
    text = str(value)
    if len(text.strip()) >= 12:  # shorter strings may occur in any message by chance
        assert text not in str(exc)


@FAST
@given(valid_orders)
def test_valid_orders_are_accepted(data: dict[str, Any]) -> None:
    order = orders_client.parse_order(data)
    assert order.customer_id == data["customer_id"]
    assert [i.sku for i in order.items] == [i["sku"] for i in data["items"]]
    assert re.fullmatch(r"order-[A-Za-z0-9-]{8,64}", order.workflow_id)


@FAST
@given(
    valid_orders, st.text(max_size=40).filter(lambda s: not re.fullmatch(SKU_PATTERN, s.strip()))
)
def test_invalid_sku_is_refused_naming_it(data: dict[str, Any], sku: str) -> None:
    data["items"] = [{"sku": sku, "quantity": 1}]
    exc = refused(data)
    assert fields(exc) == {"items.0.sku"}
    assert_not_echoed(exc, sku)


@FAST
@given(
    valid_orders,
    st.one_of(
        st.integers(max_value=0),
        st.integers(min_value=MAX_QUANTITY + 1),
        st.integers(min_value=10**18, max_value=10**40),
    ),
)
def test_negative_zero_and_huge_quantities_are_refused(data: dict[str, Any], qty: int) -> None:
    data["items"] = [{"sku": "SKU-WIDGET", "quantity": qty}]
    assert fields(refused(data)) == {"items.0.quantity"}


@FAST
@given(valid_orders, st.text(max_size=8).filter(lambda c: c.strip() not in CURRENCIES))
def test_wrong_currency_is_refused(data: dict[str, Any], currency: str) -> None:
    data["currency"] = currency
    assert fields(refused(data)) == {"currency"}


@FAST
@given(
    valid_orders,
    st.sampled_from(["customer_id", "customer_email", "shipping_address", "payment_reference"]),
    st.one_of(
        # Oversized for every field (built, not drawn char by char: fast).
        st.tuples(st.text(min_size=1, max_size=3), st.integers(501, 3000)).map(
            lambda t: (t[0] * t[1])[: t[1]]
        ),
        st.text(alphabet=st.characters(min_codepoint=0x80), min_size=1, max_size=30),
        st.just(""),
    ),
)
def test_unicode_and_oversized_fields_are_refused(
    data: dict[str, Any], field: str, value: str
) -> None:
    # A unicode address of normal length is a valid address: only the others must refuse it.
    assume(field != "shipping_address" or not 5 <= len(value.strip()) <= 500)
    data[field] = value
    exc = refused(data)
    assert fields(exc) == {field}
    assert_not_echoed(exc, value)


@FAST
@given(valid_orders, st.integers(min_value=MAX_ITEMS + 1, max_value=MAX_ITEMS + 20))
def test_too_many_or_repeated_items_are_refused(data: dict[str, Any], n: int) -> None:
    data["items"] = [{"sku": f"SKU-{i:04d}", "quantity": 1} for i in range(n)]
    assert fields(refused(data)) == {"items"}
    data["items"] = [{"sku": "SKU-WIDGET", "quantity": 1}] * 2
    assert fields(refused(data)) == {"items"}


@FAST
@given(
    valid_orders,
    st.text(min_size=1, max_size=20).filter(lambda k: k not in OrderRequest.model_fields),
)
def test_unknown_fields_are_refused_by_name(data: dict[str, Any], key: str) -> None:
    data[key] = "x"
    assert key in fields(refused(data))


@FAST
@given(
    st.dictionaries(
        st.sampled_from([*OrderRequest.model_fields, "other"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=30), st.lists(st.integers())),
    )
)
def test_arbitrary_input_is_refused_or_accepted_never_crashes(data: dict[str, Any]) -> None:
    try:
        order = orders_client.parse_order(data)
    except orders_client.InvalidOrderError as exc:
        problems = exc.problems
    else:
        assert isinstance(order, OrderRequest)
        return
    assert problems
    assert all(field and message for field, message in problems)
