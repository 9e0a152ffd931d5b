"""Approvals in OrderWorkflow on a real Temporal dev server, approver keys held locally.

The same cases run against the real stack (approvers' keys in Vault) in
tests/integration/workflows/test_approvals.py; here they are fast and also fuzzed.
"""

from __future__ import annotations

import base64
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from orders.approvals import Decision, RejectReason
from orders.contract import identities
from orders.models import ApprovalPolicy, OrderRequest, OrderStatus, Outcome, Step
from tests.support.approvals import (
    Target,
    fuzz_values,
    large,
    rejection_cases,
    send_signal,
    send_update,
    signed,
    status_of,
)
from tests.support.golden import NAMESPACE
from tests.support.shop import PAY, RELEASE, Harness, new_order
from tests.support.wait import wait_for
from workflows import OrderWorkflow
from workflows.order import APPROVAL_STEP, NO_APPROVAL


def local_signer(h: Harness) -> Any:
    async def sign(name: str, data: bytes) -> str:
        version, key = max(h.shop.approver_keys.get(name, {1: _throwaway()}).items())
        return f"vault:v{version}:" + base64.b64encode(key.sign(data)).decode()

    return sign


def _throwaway() -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()


async def awaiting(h: Harness, order: OrderRequest, deadline: int = 60) -> WorkflowHandle[Any, Any]:
    handle = await h.start(order, ApprovalPolicy(deadline_seconds=deadline))

    async def ready() -> bool:
        return (await status_of(handle)).step is Step.AWAITING_APPROVAL

    await wait_for(ready)
    return handle


async def failed_tasks(handle: WorkflowHandle[Any, Any]) -> int:
    history = await handle.fetch_history()
    return sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for e in history.events)


async def test_small_order_needs_no_approval(harness: Harness) -> None:
    status = await harness.run(new_order())
    assert status.outcome is Outcome.COMPLETED
    assert status.approvals_required == 0
    assert APPROVAL_STEP not in status.completed_steps


async def test_large_order_waits_then_pays_after_a_valid_approval(harness: Harness) -> None:
    order = large()
    handle = await awaiting(harness, order)
    status = await status_of(handle)
    assert status.approvals_required == 1
    assert status.approval_deadline is not None
    assert PAY not in harness.shop.steps(order.order_id)

    target = await Target.of(handle, NAMESPACE)
    approval = await signed(local_signer(harness), target.message("bob"))
    assert await send_update(handle, approval) is None

    final = OrderStatus.model_validate(await handle.result())
    assert final.outcome is Outcome.COMPLETED
    assert [(a.approver, a.decision, a.key_version) for a in final.approvals] == [
        ("bob", Decision.APPROVE, 1)
    ]
    assert APPROVAL_STEP in final.completed_steps
    assert PAY in harness.shop.steps(order.order_id)


async def test_every_rejection_reason_leaves_the_order_waiting(harness: Harness) -> None:
    sign = local_signer(harness)
    # Dual approval (4 laptops, 5,996.00) submitted by dave: alice is over her limit.
    order = large(customer="dave", laptops=4)
    handle = await awaiting(harness, order)
    other = await awaiting(harness, large())
    target, other_target = await Target.of(handle, NAMESPACE), await Target.of(other, NAMESPACE)
    cases = await rejection_cases(
        target, sign, other_target=other_target, over_limit="alice", inactive="carol"
    )
    for expected, approval in cases:
        assert await send_update(handle, approval) is expected, expected

    # Signals: the same approvals dropped and counted, nothing accepted.
    for _, approval in cases:
        await send_signal(handle, approval)
    assert (await status_of(handle)).rejected_signals == len(cases)

    # Self-approval, then the two-approver rule.
    assert await send_update(handle, await signed(sign, target.message("dave"))) is (
        RejectReason.SELF_APPROVAL
    )
    first = await signed(sign, target.message("bob"))
    assert await send_update(handle, first) is None
    assert await send_update(handle, first) is RejectReason.REPLAYED_NONCE
    again = await signed(sign, target.message("bob"))
    assert await send_update(handle, again) is RejectReason.SAME_APPROVER

    status = await status_of(handle)
    assert status.step is Step.AWAITING_APPROVAL
    assert [a.approver for a in status.approvals] == ["bob"]
    assert PAY not in harness.shop.steps(order.order_id)
    assert await failed_tasks(handle) == 0

    await handle.terminate("test done")
    await other.terminate("test done")


async def test_deadline_rejects_the_order_and_releases_its_stock(harness: Harness) -> None:
    order = large()
    handle = await harness.start(order, ApprovalPolicy(deadline_seconds=3))
    final = OrderStatus.model_validate(await handle.result())
    assert final.outcome is Outcome.REJECTED
    assert final.reason == NO_APPROVAL
    assert final.compensations == (RELEASE,)
    assert PAY not in harness.shop.steps(order.order_id)
    assert await failed_tasks(handle) == 0


async def test_signed_rejection_rejects_and_releases(harness: Harness) -> None:
    order = large()
    handle = await awaiting(harness, order)
    target = await Target.of(handle, NAMESPACE)
    # Through the signal this time: accepted from a fire-and-forget client too.
    await send_signal(
        handle,
        await signed(local_signer(harness), target.message("alice", decision=Decision.REJECT)),
    )
    final = OrderStatus.model_validate(await handle.result())
    assert final.outcome is Outcome.REJECTED
    assert final.reason == "rejected by approver alice"
    assert final.compensations == (RELEASE,)
    assert PAY not in harness.shop.steps(order.order_id)


async def test_key_rotation_in_flight_and_new(harness: Harness) -> None:
    """A workflow pins the registry when it starts waiting; a rotated key is unknown to it.

    Approvals signed with the new version are refused (``unknown_key_version``) by
    workflows that pinned the registry before the rotation; the approver can still sign
    with... nothing older (Vault signs with the latest version), so such an order needs
    another approver or times out. Workflows that load the registry after the rotation
    verify the new version.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    sign = local_signer(harness)
    before = await awaiting(harness, large())
    harness.shop.approver_keys["bob"][2] = Ed25519PrivateKey.generate()
    try:
        old_target = await Target.of(before, NAMESPACE)
        assert await send_update(before, await signed(sign, old_target.message("bob"))) is (
            RejectReason.UNKNOWN_KEY_VERSION
        )
        after = await awaiting(harness, large())
        new_target = await Target.of(after, NAMESPACE)
        assert await send_update(after, await signed(sign, new_target.message("bob"))) is None
        assert OrderStatus.model_validate(await after.result()).approvals[0].key_version == 2
    finally:
        del harness.shop.approver_keys["bob"][2]
    # The in-flight one still accepts another approver whose key it pinned.
    assert await send_update(before, await signed(sign, old_target.message("dave"))) is None
    assert OrderStatus.model_validate(await before.result()).outcome is Outcome.COMPLETED


async def test_an_approver_removed_while_the_order_waits_is_refused_by_the_update(
    harness: Harness,
) -> None:
    """Pinned as a member when the order started waiting, removed before approving: the
    Update reads the registry again (bob only) and refuses; the validator let it through."""
    sign = local_signer(harness)
    order = large()
    handle = await awaiting(harness, order)
    target = await Target.of(handle, NAMESPACE)
    approval = await signed(sign, target.message("bob"))
    harness.shop.removed.add("bob")
    try:
        assert await send_update(handle, approval) is RejectReason.APPROVER_REMOVED
        assert harness.shop.registry_reads[-1] == ("bob",)
        status = await status_of(handle)
        assert status.rejected_approvals == 1  # refused by the handler, after the read
        assert (status.step, status.approvals) == (Step.AWAITING_APPROVAL, ())
        assert PAY not in harness.shop.steps(order.order_id)
    finally:
        harness.shop.removed.discard("bob")
    # Fail closed: this run last read bob as removed, and only an approval that verifies
    # against that record triggers a read. Another approver decides.
    assert await send_update(handle, await signed(sign, target.message("bob"))) is (
        RejectReason.APPROVER_REMOVED
    )
    assert await send_update(handle, await signed(sign, target.message("dave"))) is None
    final = OrderStatus.model_validate(await handle.result())
    assert final.outcome is Outcome.COMPLETED
    assert [a.approver for a in final.approvals] == ["dave"]


async def test_a_retired_key_version_is_refused_by_the_update(harness: Harness) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    sign = local_signer(harness)
    order = large()
    handle = await awaiting(harness, order)
    target = await Target.of(handle, NAMESPACE)
    old = await signed(sign, target.message("alice"))  # v1, in force when pinned
    harness.shop.approver_keys["alice"][2] = Ed25519PrivateKey.generate()
    harness.shop.min_versions["alice"] = 2  # rotated, v1 retired
    try:
        assert await send_update(handle, old) is RejectReason.KEY_VERSION_RETIRED
        assert (await status_of(handle)).rejected_approvals == 1
        assert PAY not in harness.shop.steps(order.order_id)
        # The fresh read taught the run v2: alice's new signature is verified.
        assert await send_update(handle, await signed(sign, target.message("alice"))) is None
        final = OrderStatus.model_validate(await handle.result())
    finally:
        del harness.shop.approver_keys["alice"][2]
        del harness.shop.min_versions["alice"]
    assert [(a.approver, a.key_version) for a in final.approvals] == [("alice", 2)]


async def test_an_accepted_approval_is_revoked_if_its_approver_is_removed_before_the_decision(
    harness: Harness,
) -> None:
    """Dual approval: bob approves, is removed, dave approves; the read dave's Update makes
    covers bob too, so bob's approval is revoked and the order keeps waiting."""
    sign = local_signer(harness)
    order = large(laptops=4)
    handle = await awaiting(harness, order)
    target = await Target.of(handle, NAMESPACE)
    assert await send_update(handle, await signed(sign, target.message("bob"))) is None
    harness.shop.removed.add("bob")
    try:
        assert await send_update(handle, await signed(sign, target.message("dave"))) is None
        assert harness.shop.registry_reads[-1] == ("bob", "dave")
        status = await status_of(handle)
        assert [a.approver for a in status.approvals] == ["dave"]
        assert [(r.approver, r.reason) for r in status.revoked_approvals] == [
            ("bob", RejectReason.APPROVER_REMOVED)
        ]
        assert status.step is Step.AWAITING_APPROVAL
        assert PAY not in harness.shop.steps(order.order_id)
    finally:
        harness.shop.removed.discard("bob")
    assert await failed_tasks(handle) == 0
    await handle.terminate("test done")


async def test_a_signalled_approval_is_confirmed_by_a_fresh_read_before_the_decision(
    harness: Harness,
) -> None:
    """The signal has no handler that may wait: it is accepted against the pinned record,
    and the read before the decision revokes it."""
    sign = local_signer(harness)
    order = large()
    handle = await awaiting(harness, order)
    target = await Target.of(handle, NAMESPACE)
    harness.shop.removed.add("bob")
    try:
        await send_signal(handle, await signed(sign, target.message("bob")))

        async def revoked() -> Any:
            return (await status_of(handle)).revoked_approvals

        [revocation] = await wait_for(revoked)
        assert (revocation.approver, revocation.reason) == ("bob", RejectReason.APPROVER_REMOVED)
        status = await status_of(handle)
        assert (status.step, status.approvals) == (Step.AWAITING_APPROVAL, ())
        assert PAY not in harness.shop.steps(order.order_id)
    finally:
        harness.shop.removed.discard("bob")
    await send_signal(handle, await signed(sign, target.message("dave")))
    final = OrderStatus.model_validate(await handle.result())
    assert final.outcome is Outcome.COMPLETED
    assert [a.approver for a in final.approvals] == ["dave"]


async def test_fuzzed_signals_and_updates_never_fail_a_task_or_approve(harness: Harness) -> None:
    handle = await awaiting(harness, large(), deadline=120)
    values = fuzz_values()
    for value in values:
        await send_signal(handle, value)
        assert await send_update(handle, value) is not None, value
    # Raw binary, several arguments, no argument, another signal name.
    await handle.signal("approval", args=[b"\x00\xff", 1, None])
    await handle.signal("approval", args=[])
    await handle.signal("approve", {"message": 1})
    status = await status_of(handle)
    assert status.step is Step.AWAITING_APPROVAL
    assert status.approvals == ()
    assert status.rejected_signals == len(values) + 3
    assert await failed_tasks(handle) == 0
    await handle.terminate("fuzzing done")


async def test_histories_with_approvals_replay(harness: Harness) -> None:
    replayer = Replayer(
        workflows=[OrderWorkflow], data_converter=pydantic_data_converter, namespace=NAMESPACE
    )
    replayed = 0
    for handle in harness.handles:
        desc = await handle.describe()
        if desc.status is None or desc.status.name != "COMPLETED":
            continue
        history = await handle.fetch_history()
        if not any(
            e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
            or e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
            for e in history.events
        ):
            continue
        await replayer.replay_workflow(history)
        replayed += 1
    assert replayed >= 2


async def test_an_order_that_did_not_come_through_the_front_cannot_be_approved(
    harness: Harness,
) -> None:
    # Started without the front's orders-placed-by header: nobody is known to have placed
    # it, so no approver can be shown not to be its submitter.
    order = large()
    sealed = await harness.seals.seal_order(order)
    sealed = sealed.model_copy(update={"approval": ApprovalPolicy(deadline_seconds=60)})
    handle = await harness.client.start_workflow(
        OrderWorkflow.run,
        sealed,
        id=sealed.workflow_id,
        task_queue=identities.ORDER_WORKFLOW.task_queue,
    )

    async def ready() -> bool:
        return (await status_of(handle)).step is Step.AWAITING_APPROVAL

    await wait_for(ready)
    target = await Target.of(handle, NAMESPACE)
    approval = await signed(local_signer(harness), target.message("bob"))
    assert await send_update(handle, approval) is RejectReason.UNKNOWN_SUBMITTER
    assert (await status_of(handle)).approvals == ()
    await handle.terminate("test done")
