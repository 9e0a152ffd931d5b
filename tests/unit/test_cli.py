"""Property tests of ``orders order place`` argument parsing (no stack needed).

The personal fields come on stdin (``--pii-file -``), as they would from a script.

Whatever ``--item`` and ``--currency`` hold, the command either places a valid order or
exits 2 naming the field, with "nothing was started or written" — and in that case it
never reaches the code that contacts Temporal or Vault.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from orders import cli, cli_order
from orders import client as orders_client
from orders.models import CURRENCIES, MAX_QUANTITY, SKU_PATTERN

FAST = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
BASE = ["order", "place", "--customer-id", "cust-1", "--pii-file", "-"]
PII = json.dumps(
    {
        "customer_email": "a@example.com",
        "shipping_address": "1 Main Street, Town",
        "payment_reference": "tok-4242",
    }
)


pytestmark = pytest.mark.usefixtures("cli_logging")


@pytest.fixture
def placed(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Orders that got past validation (recorded instead of contacting the stack)."""
    calls: list[Any] = []
    monkeypatch.setattr(cli_order, "_place", lambda order, output: calls.append(order))
    return calls


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli.app, [*BASE, *args], input=PII)


def _valid_item(spec: str) -> bool:
    sku, sep, qty = spec.partition(":")
    return bool(
        sep
        and re.fullmatch(SKU_PATTERN, sku.strip())
        and re.fullmatch(r"\s*[0-9]{1,12}\s*", qty)
        and 1 <= int(qty) <= MAX_QUANTITY
    )


@FAST
@given(st.text(max_size=40))
def test_any_item_spec_is_placed_or_refused_naming_items(placed: list[Any], spec: str) -> None:
    placed.clear()
    result = invoke("--item", spec)
    if _valid_item(spec):
        assert result.exit_code == 0, result.output
        assert len(placed) == 1
        return
    assert result.exit_code == 2, (spec, result.output)
    assert "nothing was started or written" in result.stderr
    assert "items" in result.stderr
    assert placed == []


@FAST
@given(
    st.from_regex(SKU_PATTERN, fullmatch=True),
    st.one_of(st.integers(max_value=0), st.integers(min_value=MAX_QUANTITY + 1)),
)
def test_negative_and_huge_quantities_are_refused(placed: list[Any], sku: str, qty: int) -> None:
    placed.clear()
    result = invoke("--item", f"{sku}:{qty}")
    assert result.exit_code == 2
    # Within 12 digits the model names the quantity; beyond, the parser refuses the spec.
    assert "items.0.quantity:" in result.stderr or "items: expected" in result.stderr
    assert placed == []


@FAST
@given(st.text(min_size=1, max_size=6).filter(lambda c: c.strip() not in CURRENCIES))
def test_wrong_currency_is_refused(placed: list[Any], currency: str) -> None:
    placed.clear()
    result = invoke("--item", "SKU-WIDGET:1", "--currency", currency)
    assert result.exit_code == 2
    assert "currency:" in result.stderr
    assert placed == []


@FAST
@given(st.lists(st.text(max_size=20), max_size=5))
def test_parse_items_returns_items_or_refuses(specs: list[str]) -> None:
    try:
        items = orders_client.parse_items(specs)
    except orders_client.InvalidOrderError as exc:
        problems = exc.problems
    else:
        assert len(items) == len(specs)
        return
    assert [field for field, _ in problems] == ["items"]


@pytest.mark.parametrize("spec", ["SKU-A:²", "SKU-A:٣", "SKU-A:1_0", "SKU-A:" + "9" * 40, "SKU-A"])
def test_non_ascii_or_absurd_quantities_are_refused(placed: list[Any], spec: str) -> None:
    result = invoke("--item", spec)
    assert result.exit_code == 2, result.output
    assert "items:" in result.stderr
    assert placed == []


def test_json_that_is_not_an_object_is_refused() -> None:
    for text, why in (("[1, 2]", "must be a JSON object"), ("{oops", "not valid JSON")):
        with pytest.raises(orders_client.InvalidOrderError, match=why):
            orders_client.json_object(text, "order")


def test_login_for_an_unknown_place_is_refused_before_any_stack() -> None:
    result = CliRunner().invoke(cli.app, ["login", "--for", "anything"])
    assert result.exit_code == 2
    assert "--for must be one of codec-server, temporal" in result.output
