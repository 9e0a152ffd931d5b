"""The front's rules file equals what the contract renders; parsing refuses non-rules."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from orders.contract import identities, pki_names, temporal_access
from orders.contract.temporal_access import TemporalAccess
from orders.front import rules


def test_committed_rules_equal_the_contract() -> None:
    # Regenerate with: python -m orders.front.rules --write
    assert rules.packaged_text() == rules.to_json(rules.contract_rules())


def test_rules_round_trip() -> None:
    rendered = rules.contract_rules()
    assert rules.from_json(rules.to_json(rendered)) == rendered


def test_a_widened_rules_file_differs_from_the_contract() -> None:
    doc = json.loads(rules.packaged_text())
    doc["principals"]["order-notify"]["poll_activity_queues"].append("order-process-payment")
    assert rules.from_json(json.dumps(doc)) != rules.contract_rules()


def test_every_worker_polls_only_its_own_queue() -> None:
    loaded = rules.load()
    for ident in identities.workers():
        access = loaded.principals[ident.name]
        assert {*access.poll_workflow_queues, *access.poll_activity_queues} == {ident.task_queue}
        assert access.start == ()
        assert access.send == ()
        assert not access.list
        assert not access.register_namespace


def test_only_the_client_starts_and_sends() -> None:
    loaded = rules.load()
    starters = {name for name, a in loaded.principals.items() if a.start or a.send}
    assert starters == {identities.ORDER_CLIENT.name}


def test_identities_that_never_call_temporal_are_not_listed() -> None:
    loaded = rules.load()
    for ident in (identities.CODEC_SERVER, identities.ORDER_MIGRATE):
        assert ident.name not in loaded.principals
        assert temporal_access.temporal_access(ident) == TemporalAccess()


def test_namespace_registration_is_the_admin_steps_alone() -> None:
    loaded = rules.load()
    registering = {n for n, a in loaded.principals.items() if a.register_namespace}
    assert registering == {temporal_access.TEMPORAL_ADMIN_TOKEN_ROLE}
    assert not any(a.register_namespace for a in loaded.people.values())


def test_people_read_or_write_but_never_poll() -> None:
    loaded = rules.load()
    assert not loaded.people["read"].start
    assert loaded.people["write"].start
    for access in loaded.people.values():
        assert not access.poll_workflow_queues
        assert not access.poll_activity_queues


@pytest.mark.parametrize("text", ["", "[]", '{"namespace": "orders"}', "{"])
def test_not_a_rules_file(text: str) -> None:
    with pytest.raises(ValueError, match="not a rules file"):
        rules.from_json(text)


def test_a_changed_rules_file_is_reloaded_and_a_broken_one_ignored(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    rules.write(path)
    source = rules.RulesFile(path, check_seconds=0)
    assert "order-notify" in source.current().principals
    doc = json.loads(path.read_text())
    del doc["principals"]["order-notify"]
    path.write_text(json.dumps(doc))
    os.utime(path, (1, 1))  # a different mtime, however fast the file system
    assert "order-notify" not in source.current().principals
    path.write_text("{broken")
    os.utime(path, (2, 2))
    assert "order-notify" not in source.current().principals  # the last good rules stay


def test_keda_only_reads_the_workers_backlogs() -> None:
    loaded = rules.load()
    keda = loaded.principals[pki_names.KEDA_CERT_NAME]
    queues = {i.task_queue for i in identities.workers()}
    assert set(keda.describe_queues) == queues
    assert keda == TemporalAccess(describe_queues=keda.describe_queues)
    describers = {n for n, a in loaded.principals.items() if a.describe_queues}
    assert describers == {pki_names.KEDA_CERT_NAME}
    assert not any(a.describe_queues for a in loaded.people.values())


def test_only_the_operator_seat_manages_deployments() -> None:
    loaded = rules.load()
    managing = {n for n, a in loaded.principals.items() if a.manage_deployments}
    assert managing == {temporal_access.TEMPORAL_ADMIN_TOKEN_ROLE}
    assert not any(a.manage_deployments for a in loaded.people.values())
