"""Every history this test session produced replays with the current workflow code.

Runs after the saga tests (file order), so it covers completed, compensated, out-of-stock
and restarted-mid-order histories.
"""

from __future__ import annotations

import pytest
from temporalio.client import Client
from temporalio.worker import Replayer

from workflows import OrderWorkflow

pytestmark = pytest.mark.integration


async def test_histories_replay_with_current_code(client: Client) -> None:
    histories = []
    async for wf in client.list_workflows(
        "WorkflowType = 'OrderWorkflow' AND ExecutionStatus = 'Completed'"
    ):
        histories.append(await client.get_workflow_handle(wf.id, run_id=wf.run_id).fetch_history())
    assert len(histories) >= 4
    # The histories are encrypted: replay decodes them with the same codec as the workers.
    # The namespace is bound into approvals: replay must run in the one they were for.
    replayer = Replayer(
        workflows=[OrderWorkflow], data_converter=client.data_converter, namespace=client.namespace
    )
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
        assert result.replay_failure is None, history.workflow_id
