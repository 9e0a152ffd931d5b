"""Approver changes while an order waits, on the real stack: verification time decides.

The order pins the registry when it starts waiting; then a key version is retired
(``min_decryption_version`` raised past it) or the approver leaves ``order-approvers``, and
only then does the approval arrive. The workflow reads the registry again (the
``order-approvals`` worker, its own Vault policy) and refuses it with the reason. Runs
after test_approvals.py and before test_replay.py (file order), which replays these
histories too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import hvac
import pytest
from temporalio.client import Client

from orders.approvals import RejectReason
from orders.contract import approval_policy, identities, transit_names
from orders.devstack.state import StackInfo, StackPaths
from orders.models import OrderStatus, Outcome, Step
from orders.vault.people import PersonLoginError
from tests.support.approvals import Target, large, send_update, signed, status_of
from tests.support.stack import login_as, vault
from tests.support.stack_approvals import awaiting, failed_tasks, payments, signer

pytestmark = pytest.mark.integration


@contextmanager
def removed_from_approvers(stack: StackInfo, name: str) -> Iterator[None]:
    """``name`` out of ``order-approvers`` (as an administrator would), restored after."""
    root = vault(stack, stack.root_token())
    group = f"identity/group/name/{approval_policy.APPROVERS_GROUP}"
    members = list(root.read(group)["data"]["member_entity_ids"])
    entity = root.read(f"identity/entity/name/{name}")["data"]["id"]
    assert entity in members
    root.write_data(group, data={"member_entity_ids": [m for m in members if m != entity]})
    try:
        yield
    finally:
        root.write_data(group, data={"member_entity_ids": members})


async def test_a_key_version_retired_after_signing_is_refused(
    stack: StackInfo, stack_paths: StackPaths, client: Client
) -> None:
    sign = signer(stack, stack_paths)
    order = large(customer="cust-retired")  # 1,499.00: alice's limit covers it
    handle = await awaiting(client, order, deadline=60)
    target = await Target.of(handle, client.namespace)
    old = await signed(sign, target.message("alice"))

    root = vault(stack, stack.root_token())
    key = approval_policy.approver_key("alice")
    root.secrets.transit.rotate_key(key)
    latest = root.read(f"{transit_names.TRANSIT_MOUNT}/keys/{key}")["data"]["latest_version"]
    root.secrets.transit.update_key_configuration(key, min_decryption_version=latest)
    assert old.key_version is not None
    assert old.key_version < latest

    # Pinned while it was in force (the validator lets it through); the fresh read refuses.
    assert await send_update(handle, old) is RejectReason.KEY_VERSION_RETIRED
    status = await status_of(handle)
    assert (status.step, status.approvals, status.rejected_approvals) == (
        Step.AWAITING_APPROVAL,
        (),
        1,
    )
    assert await payments(stack, order.order_id) == 0

    # Signed with the version in force, it is verified by the same run.
    new = await signed(sign, target.message("alice"))
    assert new.key_version == latest
    assert await send_update(handle, new) is None
    final = OrderStatus.model_validate(await handle.result())
    assert final.outcome is Outcome.COMPLETED
    assert [(a.approver, a.key_version) for a in final.approvals] == [("alice", latest)]
    assert await failed_tasks(handle) == 0


async def test_an_approver_removed_after_signing_is_refused(
    stack: StackInfo, stack_paths: StackPaths, client: Client
) -> None:
    sign = signer(stack, stack_paths)
    single_order = large(customer="cust-removed")
    dual_order = large(customer="cust-removed", laptops=4)  # 5,996.00: two approvers
    single = await awaiting(client, single_order, deadline=60)
    # No third approver can complete it once bob is refused: it ends at its deadline.
    dual = await awaiting(client, dual_order, deadline=30)
    single_target = await Target.of(single, client.namespace)
    dual_target = await Target.of(dual, client.namespace)
    # While bob is a member: he approves the dual order and signs for the single one.
    assert await send_update(dual, await signed(sign, dual_target.message("bob"))) is None
    pending = await signed(sign, single_target.message("bob"))

    with removed_from_approvers(stack, "bob"):
        # Vault no longer lets him sign; his approval signed before is refused all the same.
        with pytest.raises(PersonLoginError, match="may not sign"):
            await sign("bob", b"anything")
        assert await send_update(single, pending) is RejectReason.APPROVER_REMOVED
        # The second approval of the dual order makes the run read bob again: his accepted
        # approval is revoked and the order keeps waiting.
        assert await send_update(dual, await signed(sign, dual_target.message("dave"))) is None
        status = await status_of(dual)
        assert [a.approver for a in status.approvals] == ["dave"]
        assert [(r.approver, r.reason) for r in status.revoked_approvals] == [
            ("bob", RejectReason.APPROVER_REMOVED)
        ]
        assert status.step is Step.AWAITING_APPROVAL
    assert await payments(stack, single_order.order_id) == 0
    assert await payments(stack, dual_order.order_id) == 0

    # Another approver still can.
    assert await send_update(single, await signed(sign, single_target.message("dave"))) is None
    final = OrderStatus.model_validate(await single.result())
    assert final.outcome is Outcome.COMPLETED
    assert [a.approver for a in final.approvals] == ["dave"]
    assert await failed_tasks(single) == 0


def test_order_approvals_reads_membership_of_the_contract_approvers_only(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    """The reads the registry needs are granted, one by one; nothing next to them is."""
    client = login_as(stack, stack_paths, identities.ORDER_APPROVALS)
    try:
        for path in approval_policy.registry_reads(identities.ORDER_APPROVALS):
            assert client.read(path)["data"]["id"]
        group = f"identity/group/name/{approval_policy.APPROVERS_GROUP}"
        for path in ("identity/entity/name/dev-viewer", "identity/group/name/order-admins"):
            with pytest.raises(hvac.exceptions.Forbidden):
                client.read(path)
        with pytest.raises(hvac.exceptions.Forbidden):
            client.list("identity/entity/id")
        with pytest.raises(hvac.exceptions.Forbidden):
            client.write_data(group, data={"member_entity_ids": []})
    finally:
        client.auth.token.revoke_self()
