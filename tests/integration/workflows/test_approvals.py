"""Approvals on the real stack: approvers' keys in Vault Transit, payloads through the codec.

Each approver signs through their own userpass login (policy: ``transit/sign/approver-<name>``
only); the workflow verifies against the public keys the order-approvals worker read from
Vault and pinned in history. Runs before test_replay.py (file order), which then replays
these histories too.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from orders import client as orders_client
from orders.approvals import Decision, RejectReason
from orders.contract import approval_policy, identities
from orders.devstack import actas
from orders.devstack import people as dev_people
from orders.devstack.state import StackInfo, StackPaths
from orders.models import OrderItem, OrderStatus, Outcome, Step
from orders.vault import approvers as vault_approvers
from orders.vault.people import PersonLoginError
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
from tests.support.stack import admin_pg, eventually, person_client, vault
from tests.support.stack_approvals import approve_as, awaiting, failed_tasks, payments, signer
from workflows.order import NO_APPROVAL

pytestmark = pytest.mark.integration


def root_vault(stack: StackInfo) -> Any:
    return vault(stack, Path(stack.vault_root_token_file).read_text().strip())


async def test_an_approver_signs_only_with_their_own_key(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    password = dev_people.dev_password(stack_paths, "alice")
    with pytest.raises(PersonLoginError, match="may not sign"):
        await vault_approvers.sign_as(
            stack.vault_addr,
            "alice",
            password,
            b"x",
            key=approval_policy.approver_key("bob"),
            verify=stack.verify,
        )
    # The keys are not exportable: nobody, not even root, can read a private half.
    root = root_vault(stack)
    key = root.read(f"transit/keys/{approval_policy.approver_key('bob')}")["data"]
    assert key["type"] == "ed25519"
    assert key["exportable"] is False


async def test_large_order_approved_by_a_valid_approver(
    stack: StackInfo, stack_paths: StackPaths, client: Client
) -> None:
    order = large()
    handle = await awaiting(client, order)
    assert await payments(stack, order.order_id) == 0
    target = await Target.of(handle, client.namespace)
    approval = await signed(signer(stack, stack_paths), target.message("bob"))
    assert await send_update(handle, approval) is None

    final = OrderStatus.model_validate(await handle.result())
    assert final.outcome is Outcome.COMPLETED
    assert [(a.approver, a.decision) for a in final.approvals] == [("bob", Decision.APPROVE)]
    assert await payments(stack, order.order_id) == 1


async def test_every_rejection_reason_on_the_real_stack(
    stack: StackInfo, stack_paths: StackPaths, client: Client
) -> None:
    sign = signer(stack, stack_paths)
    order = large(laptops=4)  # 5,996.00: two approvers, alice over limit
    # Placed by dave himself (his own token, through the front's persons' port): the front
    # records him as who placed it, so his approval is a self-approval.
    # Short deadline: the checks below take a few seconds; the test then waits it out.
    async with person_client(stack, stack_paths, "dave") as dave:
        handle = await awaiting(dave, order, deadline=25)
        handle = client.get_workflow_handle(handle.id, run_id=handle.run_id)
    other_order = large()
    other = await awaiting(client, other_order, deadline=45)
    target = await Target.of(handle, client.namespace)
    other_target = await Target.of(other, client.namespace)

    # carol is inactive: in no group, so Vault refuses to sign for her at all.
    password = dev_people.dev_password(stack_paths, "carol")
    with pytest.raises(PersonLoginError):
        await vault_approvers.sign_as(
            stack.vault_addr, "carol", password, b"any", verify=stack.verify
        )
    cases = await rejection_cases(
        target, sign, other_target=other_target, over_limit="alice", inactive="carol"
    )
    for expected, approval in cases:
        assert await send_update(handle, approval) is expected, expected
    for _, approval in cases:
        await send_signal(handle, approval)
    assert await send_update(handle, await signed(sign, target.message("dave"))) is (
        RejectReason.SELF_APPROVAL
    )
    first = await signed(sign, target.message("bob"))
    assert await send_update(handle, first) is None
    assert await send_update(handle, first) is RejectReason.REPLAYED_NONCE
    await send_signal(handle, first)
    assert await send_update(handle, await signed(sign, target.message("bob"))) is (
        RejectReason.SAME_APPROVER
    )

    async def counted() -> bool:
        return (await status_of(handle)).rejected_signals == len(cases) + 1

    await eventually(counted, timeout=20)
    status = await status_of(handle)
    assert status.step is Step.AWAITING_APPROVAL
    assert [a.approver for a in status.approvals] == ["bob"]
    assert await payments(stack, order.order_id) == 0

    final = OrderStatus.model_validate(await handle.result())
    assert final.outcome is Outcome.REJECTED
    assert final.reason == NO_APPROVAL
    assert final.compensations == (identities.RELEASE_INVENTORY,)
    assert await payments(stack, order.order_id) == 0
    assert await failed_tasks(handle) == 0
    conn = await admin_pg(stack)
    try:
        held = await conn.fetchval(
            "SELECT count(*) FROM orders.reservations WHERE order_id = $1 AND status = 'held'",
            order.order_id,
        )
    finally:
        await conn.close()
    assert held == 0
    # Nobody may terminate through the front: the other order ends at its short deadline.


async def test_fuzzed_inputs_through_the_codec(client: Client) -> None:
    handle = await awaiting(client, large(), deadline=45)  # ends by itself: no terminate
    values = fuzz_values(25)
    for value in values:
        await send_signal(handle, value)
        assert await send_update(handle, value) is not None, value

    async def counted() -> bool:
        return (await status_of(handle)).rejected_signals == len(values)

    await eventually(counted, timeout=20)
    assert (await status_of(handle)).approvals == ()
    assert await failed_tasks(handle) == 0


async def test_rotated_key_unknown_in_flight_verified_for_new_orders(
    stack: StackInfo, stack_paths: StackPaths, client: Client
) -> None:
    sign = signer(stack, stack_paths)
    before = await awaiting(client, large())
    root = root_vault(stack)
    root.secrets.transit.rotate_key(approval_policy.approver_key("bob"))

    old_target = await Target.of(before, client.namespace)
    new_sig = await signed(sign, old_target.message("bob"))
    # Pinned before the rotation: the new version is unknown to this run.
    assert await send_update(before, new_sig) is RejectReason.UNKNOWN_KEY_VERSION

    after = await awaiting(client, large())
    new_target = await Target.of(after, client.namespace)
    assert await send_update(after, await signed(sign, new_target.message("bob"))) is None
    done = OrderStatus.model_validate(await after.result())
    assert done.outcome is Outcome.COMPLETED
    assert done.approvals[0].key_version >= 2

    # The in-flight order is approved by another approver whose key it pinned.
    assert await send_update(before, await signed(sign, old_target.message("dave"))) is None
    assert OrderStatus.model_validate(await before.result()).outcome is Outcome.COMPLETED


async def test_raw_cli_signal_is_dropped_and_counted(
    stack: StackInfo, stack_paths: StackPaths, client: Client
) -> None:
    """A forged approval sent raw with the Temporal CLI (a plaintext payload, no codec)."""
    handle = await awaiting(client, large(customer="cust-raw-signal"), deadline=60)
    forged = json.dumps({"approver": "bob", "decision": "approve", "signature": "vault:v1:AAAA"})
    with actas.temporal_cli_args(stack, stack_paths) as connection:
        await asyncio.to_thread(
            subprocess.run,
            [
                str(Path(sys.executable).parent / "temporal"), "workflow", "signal",
                "-w", handle.id, "--name", "approval", "--input", forged, *connection,
            ],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    async def counted() -> bool:
        return (await status_of(handle)).rejected_signals >= 1

    await eventually(counted, timeout=60)
    status = await status_of(handle)
    assert status.step is Step.AWAITING_APPROVAL
    assert status.approvals == ()
    assert await failed_tasks(handle) == 0
    assert await payments(stack, status.order_id) == 0


async def test_a_rejected_order_id_cannot_be_placed_again_and_nothing_is_paid(
    stack: StackInfo, stack_paths: StackPaths, client: Client
) -> None:
    """The reviewer's scenario: reject 2 laptops, then place the same id with a gizmo."""
    order = large(customer="cust-replaced", laptops=2)
    first = await awaiting(client, order)
    await approve_as(client, stack, stack_paths, order.order_id, decision="reject")
    first_run = first.first_execution_run_id
    rejected = OrderStatus.model_validate(await first.result())
    assert rejected.outcome is Outcome.REJECTED
    assert rejected.total_cents == 2 * 149900

    replacement = order.model_copy(update={"items": (OrderItem(sku="SKU-GIZMO", quantity=1),)})
    with pytest.raises(WorkflowAlreadyStartedError):
        await orders_client.place(client, replacement)

    # The order id still names the first run only, and its outcome stands.
    latest = client.get_workflow_handle(order.workflow_id)
    assert (await latest.describe()).run_id == first_run
    assert (await status_of(latest)).outcome is Outcome.REJECTED
    conn = await admin_pg(stack)
    try:
        captured = await conn.fetchval(
            "SELECT count(*) FROM orders.payments WHERE order_id = $1 AND status = 'captured'",
            order.order_id,
        )
        shipments = await conn.fetchval(
            "SELECT count(*) FROM orders.shipments WHERE order_id = $1", order.order_id
        )
        recorded = await conn.fetchrow(
            "SELECT total_cents, run_id FROM orders.orders WHERE id = $1", order.order_id
        )
    finally:
        await conn.close()
    assert (captured, shipments) == (0, 0)
    assert recorded is not None
    assert (recorded["total_cents"], recorded["run_id"]) == (2 * 149900, first_run)
