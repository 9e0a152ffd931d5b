"""Reading and replacing a message's task token without decoding the message."""

from __future__ import annotations

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsv1

from orders.front import wire


@pytest.mark.parametrize("size", [1, 127, 128, 300, 20_000])
def test_the_leading_token_is_read_and_replaced(size: int) -> None:
    token = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    sent = wsv1.PollActivityTaskQueueResponse(
        task_token=token,
        workflow_namespace="orders",
        activity_id="7",
        workflow_execution=WorkflowExecution(workflow_id="order-1", run_id="r"),
    )
    data = sent.SerializeToString()
    assert wire.leading_token(data) == token

    received = wsv1.PollActivityTaskQueueResponse()
    received.ParseFromString(wire.with_token(data, b"bound-" + token))
    assert received.task_token == b"bound-" + token
    sent.task_token = b"bound-" + token
    assert received == sent  # nothing else changed


def test_a_message_without_a_leading_token_is_left_to_the_decoder() -> None:
    empty = wsv1.PollActivityTaskQueueResponse(workflow_namespace="orders").SerializeToString()
    assert wire.leading_token(empty) is None
    assert wire.leading_token(b"") is None
    assert wire.leading_token(b"\x0a\xff") is None  # truncated length
    assert wire.leading_token(b"\x0a\x05abc") is None  # shorter than it says


def test_a_request_answers_with_the_replaced_token() -> None:
    req = wsv1.RespondActivityTaskCompletedRequest(task_token=b"wrapped", namespace="orders")
    fixed = wsv1.RespondActivityTaskCompletedRequest()
    fixed.ParseFromString(wire.with_token(req.SerializeToString(), b"original"))
    assert fixed.task_token == b"original"
    assert fixed.namespace == "orders"
