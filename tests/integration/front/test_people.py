"""Persons at Temporal: through the front's persons' port, as what their token says.

Who placed an order is the principal the front authenticated, never a field the caller
chose: an approver cannot approve an order they placed themselves, and a customer id that
happens to be an approver's name makes nobody the submitter.
"""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from orders import client as orders_client
from orders.approvals import RejectReason
from orders.devstack import actas
from orders.devstack.state import StackInfo, StackPaths
from orders.models import ApprovalPolicy
from tests.support.approvals import Target, large, send_update, signed
from tests.support.stack import person_client
from tests.support.stack_approvals import awaiting, signer

pytestmark = pytest.mark.integration


async def test_an_approver_cannot_approve_an_order_they_placed(
    stack: StackInfo, stack_paths: StackPaths, client: Client
) -> None:
    sign = signer(stack, stack_paths)
    async with person_client(stack, stack_paths, "dave") as dave:
        placed = await awaiting(dave, large(), deadline=60)
    handle = client.get_workflow_handle(placed.id, run_id=placed.run_id)
    target = await Target.of(handle, client.namespace)
    mine = await signed(sign, target.message("dave"))
    assert await send_update(handle, mine) is RejectReason.SELF_APPROVAL
    # Anyone else may (bob's limit covers it): the order goes on.
    assert await send_update(handle, await signed(sign, target.message("bob"))) is None


async def test_the_customer_id_makes_nobody_the_submitter(
    stack: StackInfo, stack_paths: StackPaths, client: Client
) -> None:
    # Placed by the order-client identity for a customer called "dave": the customer id is
    # caller input, not an authenticated principal, so dave's approval counts.
    handle = await awaiting(client, large(customer="dave"), deadline=60)
    target = await Target.of(handle, client.namespace)
    approval = await signed(signer(stack, stack_paths), target.message("dave"))
    assert await send_update(handle, approval) is None


async def test_a_viewer_looks_but_cannot_place(
    stack: StackInfo, stack_paths: StackPaths, client: Client
) -> None:
    handle = await awaiting(client, large(), deadline=30)
    async with person_client(stack, stack_paths, "dev-viewer") as viewer:
        seen: Any = await orders_client.status(viewer, handle.id)
        assert seen.order_id == handle.id.removeprefix("order-")
        with pytest.raises(RPCError) as refused:
            await orders_client.place(viewer, large(), ApprovalPolicy(deadline_seconds=30))
    assert refused.value.status is RPCStatusCode.PERMISSION_DENIED
    assert "person:dev-viewer" in refused.value.message


async def test_a_person_without_a_role_here_gets_nothing(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    # A valid token of the provider, for someone who only reads another namespace: the
    # connection's first call is refused at once (no retries).
    with pytest.raises(RuntimeError, match="Unauthenticated"):
        async with person_client(stack, stack_paths, "dev-other-viewer"):
            pass


@pytest.mark.parametrize("token", ["", "not-a-jwt"])
async def test_no_valid_token_no_call(
    stack: StackInfo, stack_paths: StackPaths, token: str
) -> None:
    with pytest.raises(RuntimeError, match="Unauthenticated"):
        async with actas.temporal_client(stack, stack_paths, person_token=token):
            pass
