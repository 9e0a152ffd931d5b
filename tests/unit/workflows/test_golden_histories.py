"""Every committed golden history replays with the current workflow code.

The histories under ``histories/<release>/`` were recorded by ``make histories`` (see
``record_histories.py``) with the workflow code of their release: completed, out of stock,
declined, refund, approvals accepted / rejected / expired, a workflow worker killed
mid-order. A change to ``workflows/order.py`` that is not gated by ``workflow.patched``
makes one of them fail here, naming the event; the controls below show that it does.
The count replayed is printed at the end of the session (``conftest.py``).
"""

from __future__ import annotations

import base64
import json

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from orders.contract import identities
from tests.support.golden import (
    HISTORIES,
    MANIFEST,
    NAMESPACE,
    PATHS,
    RELEASE,
    Golden,
    committed,
    explain,
    releases,
)
from tests.support.mutants import WithoutReservation
from workflows import OrderWorkflow

GOLDEN = committed()


def replayer(workflow: type = OrderWorkflow) -> Replayer:
    return Replayer(
        workflows=[workflow], data_converter=pydantic_data_converter, namespace=NAMESPACE
    )


@pytest.mark.parametrize("golden", GOLDEN, ids=str)
async def test_committed_history_replays(golden: Golden) -> None:
    result = await replayer().replay_workflow(golden.history(), raise_on_replay_failure=False)
    if result.replay_failure is not None:
        pytest.fail(explain(golden, result.replay_failure), pytrace=False)


def test_the_current_release_holds_every_path_and_each_file_is_listed() -> None:
    assert RELEASE in releases()
    assert [g.name for g in committed(RELEASE)] == list(PATHS)
    for release in releases():
        files = {p.stem for p in (HISTORIES / release).glob("*.json") if p.name != MANIFEST}
        assert files == {g.name for g in committed(release)}, release


async def test_a_step_taken_out_fails_the_replay_naming_the_event() -> None:
    # Control: the replay above can fail. Without reservation the workflow's next command
    # is not the one the history recorded after validation.
    golden = next(g for g in committed(RELEASE) if g.name == "completed")
    result = await replayer(WithoutReservation).replay_workflow(
        golden.history(), raise_on_replay_failure=False
    )
    failure = result.replay_failure
    assert isinstance(failure, NondeterminismError), failure
    message = explain(golden, failure)
    assert "Nondeterminism error" in message
    assert f"scheduled event '{identities.RESERVE_INVENTORY}'" in message
    assert f"activity command '{identities.PROCESS_PAYMENT}'" in message


async def test_a_history_under_another_workflow_id_does_not_replay() -> None:
    # Control: the manifest's workflow id matters (the workflow checks it before any step).
    golden = next(g for g in committed(RELEASE) if g.name == "completed")
    history = golden.history("order-ord-somebody-else-0001")
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None


def with_pinned_key(golden: Golden, approver: str, key_of: str) -> str:
    """``golden``'s history JSON with ``approver``'s pinned keys replaced by ``key_of``'s.

    Every registry the history recorded is rewritten: the first, full one and the re-reads
    (``approvers-fresh-v1``) that name only the approvers an approval concerned.
    """
    data = json.loads(golden.path.read_text())
    registries = []
    for event in data["events"]:
        result = event.get("activityTaskCompletedEventAttributes", {}).get("result", {})
        for payload in result.get("payloads", []):
            value = json.loads(base64.b64decode(payload["data"]))
            if isinstance(value, dict) and "approvers" in value:
                registries.append((payload, value))
    keys = {a["name"]: a["public_keys"] for _, v in reversed(registries) for a in v["approvers"]}
    swapped = 0
    for payload, value in registries:
        for entry in value["approvers"]:
            if entry["name"] == approver:
                entry["public_keys"] = keys[key_of]
                swapped += 1
        payload["data"] = base64.b64encode(json.dumps(value).encode()).decode()
    assert swapped >= 1, f"{golden}: pinned registry not found"
    return json.dumps(data)


@pytest.mark.parametrize(
    ("release", "diverges_at"),
    [
        # v1: the approval is refused, so the deadline timer it cancelled is not cancelled.
        ("v1", "TimerCanceled"),
        # v2 (approvers-fresh-v1): a verified approval re-reads the registry; refused, no read.
        ("v2", "ActivityTaskScheduled"),
    ],
)
async def test_approvals_replay_with_the_keys_pinned_in_the_history(
    release: str, diverges_at: str
) -> None:
    # The signatures are verified on replay against the registry recorded in the history
    # (no Vault): with bob's pinned key swapped for alice's, his approval no longer
    # verifies, the order is not approved, and the recorded run no longer replays.
    golden = next(g for g in committed(release) if g.name == "approval_accepted")
    history = WorkflowHistory.from_json(golden.workflow_id, with_pinned_key(golden, "bob", "alice"))
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert diverges_at in explain(golden, result.replay_failure)
    # Control: the same rewriting with bob's own key changes nothing.
    same = WorkflowHistory.from_json(golden.workflow_id, with_pinned_key(golden, "bob", "bob"))
    result = await replayer().replay_workflow(same, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
