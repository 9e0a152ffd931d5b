"""Only allowed search attributes: they are the one thing Temporal stores unencrypted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from orders.security import search_attributes
from orders.security.search_attributes import DisallowedSearchAttributeError, check

WORKFLOWS = Path(__file__).resolve().parents[3] / "workflows"


def test_unlisted_attributes_are_refused_by_name_not_value() -> None:
    typed = TypedSearchAttributes(
        [SearchAttributePair(SearchAttributeKey.for_keyword("CustomerEmail"), "a@example.com")]
    )
    with pytest.raises(DisallowedSearchAttributeError, match="CustomerEmail") as refused:
        check(typed)
    assert "a@example.com" not in str(refused.value)
    with pytest.raises(DisallowedSearchAttributeError, match="ShippingAddress"):
        check({"ShippingAddress": ["x"]})


def test_nothing_and_allowed_attributes_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    check(None)
    check(TypedSearchAttributes([]))
    monkeypatch.setattr(search_attributes, "ALLOWED", frozenset({"OrderOutcome"}))
    check({"OrderOutcome": ["COMPLETED"]})


def test_workflow_code_upserts_only_allowed_attributes() -> None:
    upserted: set[str] = set()
    for source in WORKFLOWS.glob("*.py"):
        text = source.read_text()
        for call in re.findall(r"upsert_search_attributes\(([^)]*)\)", text):
            upserted |= set(re.findall(r"for_\w+\(\s*\"(\w+)\"", call))
            assert "for_" in call or call.strip() == "", f"unrecognised upsert in {source.name}"
    assert upserted <= search_attributes.ALLOWED
