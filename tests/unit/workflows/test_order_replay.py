"""Histories recorded by earlier versions of OrderWorkflow still replay.

``histories/pre_saga_*.json`` were produced by the workflow code of commit 1b03eb9 (before
the id check and the DuplicateOrder outcome) with stand-in activities, no payload codec.
The id check runs before any command and adds none when it passes, so replaying them
with today's code must not raise a non-determinism error.

``histories/approvals_v1_*.json`` were produced by the code of commit ed165f8 (the approver
registry read once, before FRESH_REGISTRY_PATCH) with the unit tests' stand-in activities:
an approval through the Update, a dual approval through signals, a signed rejection.
Without the patch gate the new registry reads would be commands these histories lack.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from orders.models import workflow_id_for
from tests.support.golden import explain
from workflows import OrderWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("pre_saga_*.json"))
ORDER_IDS = {
    "pre_saga_completed": "ord-main-completed-0001",
    "pre_saga_declined": "ord-decline-main-0001",
}
"""Order of each recorded run (a history holds no workflow id; the replay must be given it)."""


APPROVAL_HISTORIES = {
    "approvals_v1_update": "order-ord-76fddb77-bb67-4ce3-a0ff-8913533fe465",
    "approvals_v1_signals_dual": "order-ord-5502c497-fef2-41d3-9de4-77382ac63b54",
    "approvals_v1_rejected": "order-ord-0c5f7426-7aa1-4df9-b190-16a577fe6b8c",
}
"""History file -> its workflow id."""


def _history(path: Path, workflow_id: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(workflow_id, path.read_text())


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_pre_saga_history_replays(path: Path) -> None:
    history = _history(path, workflow_id_for(ORDER_IDS[path.stem]))
    replayer = Replayer(
        workflows=[OrderWorkflow], data_converter=pydantic_data_converter, namespace="orders-unit"
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    if result.replay_failure is not None:
        pytest.fail(explain(path, result.replay_failure), pytrace=False)


async def test_the_same_history_under_another_workflow_id_does_not_replay() -> None:
    # Control: the id check is live in replay (the run would now fail before any step).
    path = HISTORIES[0]
    history = _history(path, workflow_id_for("ord-somebody-else-0001"))
    replayer = Replayer(
        workflows=[OrderWorkflow], data_converter=pydantic_data_converter, namespace="orders-unit"
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None


def test_both_recorded_histories_are_there() -> None:
    assert [p.stem for p in HISTORIES] == sorted(ORDER_IDS)


@pytest.mark.parametrize("name", sorted(APPROVAL_HISTORIES))
async def test_approval_history_from_before_fresh_registry_reads_replays(name: str) -> None:
    path = Path(__file__).parent / "histories" / f"{name}.json"
    replayer = Replayer(
        workflows=[OrderWorkflow], data_converter=pydantic_data_converter, namespace="orders-unit"
    )
    result = await replayer.replay_workflow(
        _history(path, APPROVAL_HISTORIES[name]), raise_on_replay_failure=False
    )
    assert result.replay_failure is None
