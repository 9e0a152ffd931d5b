"""Every label the project exports is an allowed name with a bounded value (#17).

Each helper is driven with every allowed value and with hostile input (an order id, an
e-mail, a token, a person's login, an invented call); then everything ``/metrics`` would
serve is scanned: label names against the allow-list, values against their bounded sets.
"""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from orders.observability import metrics, names

HOSTILE = (
    "order-7f3c2a91-0b44-4d1e-9a7e-1c2d3e4f5a6b",
    "alice@example.com",
    "hvs.CAESIJ3x9Q-secret-token",
    "person:alice",
    "../../etc/passwd",
)


def _exercise() -> None:
    for identity in (*sorted(names.IDENTITIES), *HOSTILE):
        metrics.configure(identity)
        for event in (*sorted(names.CREDENTIAL_EVENTS), *HOSTILE):
            metrics.credential_event(event)
        metrics.credential_state(3, 42.0)
        for credential in (*sorted(names.CREDENTIALS), *HOSTILE):
            for event in (*sorted(names.CLIENT_CREDENTIAL_EVENTS), *HOSTILE):
                metrics.client_credential(credential, event, 60.0)
        for dependency in (*sorted(names.DEPENDENCIES), *HOSTILE):
            metrics.unavailable(dependency)
        for reason in (*sorted(names.CODEC_REASONS), *HOSTILE):
            for action in (*sorted(names.CODEC_ACTIONS), *HOSTILE):
                metrics.codec_refused(reason, action)
    for principal in (*sorted(names.IDENTITIES), *HOSTILE, None):
        for call in ("StartWorkflowExecution", "TerminateWorkflowExecution", *HOSTILE):
            metrics.front_denied(principal, call)


def _labels() -> list[dict[str, str]]:
    text = generate_latest(metrics.REGISTRY).decode()
    return [
        dict(sample.labels)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def test_every_exported_label_is_allowed_and_bounded() -> None:
    _exercise()
    seen = _labels()
    assert any(names.CALL in labels for labels in seen)
    for labels in seen:
        for name, value in labels.items():
            if name == names.CALL:
                assert value in metrics.temporal_calls() | {"Check", names.OTHER}, labels
                continue
            assert name in names.LABEL_VALUES, f"label {name!r} is not on the allow-list"
            assert value in names.LABEL_VALUES[name], f"{name}={value!r} is not bounded"


@pytest.mark.parametrize("value", HOSTILE)
def test_no_hostile_value_is_exported(value: str) -> None:
    _exercise()
    text = generate_latest(metrics.REGISTRY).decode()
    assert value not in text
    assert "alice" not in text


def test_a_person_is_counted_as_person_and_an_identity_as_itself() -> None:
    before = metrics.FRONT_DENIED.labels(names.PERSON, "TerminateWorkflowExecution")._value.get()
    metrics.front_denied("person:bob", "TerminateWorkflowExecution")
    after = metrics.FRONT_DENIED.labels(names.PERSON, "TerminateWorkflowExecution")._value.get()
    assert after == before + 1
    assert metrics.front_caller("order-notify") == "order-notify"
    assert metrics.front_caller(None) == names.UNAUTHENTICATED


def test_workflow_metric_labels_are_on_the_allow_list() -> None:
    # The workflow's counters (workflows/_metrics.py) use only these label names.
    for label in (names.ENTRY, names.DECISION, names.REASON, names.OUTCOME):
        assert label in names.LABEL_VALUES
    assert names.bounded("order-123", names.OUTCOMES) == names.OTHER
