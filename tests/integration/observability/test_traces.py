"""One order is one trace across every identity that worked on it (#17, traces).

Read from the dev stack's exporter files (``.orders/dev/traces/<identity>.jsonl``, one per
identity, written by each identity's own process through its batch processor): every span
of an order's trace names its identity (``service.name``), every activity ran under the
identity the contract gives it, every span's parent is in the trace, and the root is the
client's ``StartWorkflow``. Two orders between them reach every identity: a completed one,
and one over the approval threshold whose delivery fails after payment (approver registry,
then both compensations). Nothing the test orders carried appears anywhere in any file.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from temporalio.client import Client

from orders import client as orders_client
from orders.contract import identities
from orders.contract.identities import Kind
from orders.devstack import users
from orders.devstack.state import StackInfo, StackPaths
from orders.models import Outcome
from orders.observability import tracing
from tests.support.approvals import Target, large, send_update, signed
from tests.support.spans import Span, check_links, orphans, trace_of
from tests.support.stack import make_order
from tests.support.stack_approvals import awaiting, signer
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration

CLIENT = identities.ORDER_CLIENT.name
TRACED = frozenset(
    {CLIENT} | {i.name for i in identities.ALL if i.kind in (Kind.WORKFLOW, Kind.ACTIVITY)}
)
"""Every identity an order can reach: the client, the workflow and every activity worker."""
RUNS_ACTIVITY = {a: i.name for i in identities.ALL for a in i.activities}
PATH = (
    identities.ORDER_WORKFLOW,
    identities.ORDER_VALIDATE,
    identities.ORDER_RESERVE_INVENTORY,
    identities.ORDER_PROCESS_PAYMENT,
    identities.ORDER_FULFILL,
)
"""Who works on any order that gets as far as delivery."""
APPROVALS = identities.ORDER_APPROVALS
COMPENSATIONS = (identities.ORDER_REFUND_PAYMENT, identities.ORDER_RELEASE_INVENTORY)


def read_spans(paths: StackPaths) -> list[Span]:
    """Every span every identity exported so far."""
    spans = []
    for file in sorted(paths.traces.glob("*.jsonl")):
        spans += [json.loads(line) for line in file.read_text().splitlines() if line]
    return spans


def service(span: Span) -> str:
    name: str = span["resource"]["attributes"]["service.name"]
    return name


def check_identities(trace: list[Span]) -> None:
    """The root is the client's; each span ran under the identity the contract names."""
    for span in trace:
        kind, _, target = span["name"].partition(":")
        if span["parent_id"] is None:
            assert service(span) == CLIENT, span
        elif kind == "RunActivity":
            assert service(span) == RUNS_ACTIVITY[target], span
        elif kind in ("RunWorkflow", "StartActivity", "CompleteWorkflow"):
            assert service(span) == identities.ORDER_WORKFLOW.name, span


async def test_one_order_is_one_trace_across_its_identities(
    stack: StackInfo, stack_paths: StackPaths, client: Client
) -> None:
    tag = uuid.uuid4().hex[:8]
    completed = make_order("trace", customer_id=f"cust-{tag}-a", ref=f"tok-{tag}-a")
    failed = large(customer=f"cust-{tag}-b").model_copy(
        update={
            "customer_email": f"{tag}-b@example.org",
            "shipping_address": f"{tag} Undeliverable Row, Nowhere",
            "payment_reference": f"tok-{tag}-b",
        }
    )
    first = await orders_client.place(client, completed)
    handle = await awaiting(client, failed)
    target = await Target.of(handle, client.namespace)
    assert (
        await send_update(handle, await signed(signer(stack, stack_paths), target.message("bob")))
        is None
    )
    results = await asyncio.gather(
        asyncio.wait_for(first.result(), 120), asyncio.wait_for(handle.result(), 120)
    )
    assert [r.outcome for r in results] == [Outcome.COMPLETED, Outcome.FULFILLMENT_FAILED]
    await asyncio.to_thread(tracing.flush)  # this process's client spans

    common = {CLIENT, *(i.name for i in PATH)}
    expected = {
        completed.workflow_id: common | {identities.ORDER_NOTIFY.name},
        failed.workflow_id: common | {i.name for i in (APPROVALS, *COMPENSATIONS)},
    }

    async def traces() -> dict[str, list[Span]] | None:
        spans = await asyncio.to_thread(read_spans, stack_paths)
        found = {wid: trace_of(spans, wid) for wid in expected}
        reached = {wid: {service(s) for s in trace} for wid, trace in found.items()}
        whole = all(not orphans(trace) for trace in found.values())
        return found if reached == expected and whole else None

    # Each process writes its batch every second (the workflow worker's spans for the last
    # step may land after the activity's): poll until both traces are whole.
    found = await wait_for(traces, timeout=30, interval=0.5)
    for workflow_id, trace in found.items():
        check_links(trace, workflow_id)
        check_identities(trace)
    # Between them the two orders reached every identity an order can reach.
    assert set().union(*expected.values()) == TRACED

    # Nothing either order carried, in any span of any identity (names, attributes,
    # events, status, links, resources).
    text = "".join(f.read_text() for f in stack_paths.traces.glob("*.jsonl"))
    for order in (completed, failed):
        for pii in (
            order.customer_email,
            order.shipping_address,
            order.payment_reference,
            order.customer_id,
        ):
            assert pii not in text, pii


async def test_trace_files_are_each_identitys_own(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    """0600, owned by the identity's OS user where identities have their own."""
    assert stack_paths.traces.stat().st_mode & 0o777 == 0o711
    for identity in TRACED - {CLIENT}:
        file = stack_paths.trace_file(identity)
        info = file.stat()
        assert info.st_mode & 0o777 == 0o600, identity
        user = users.identity_user(identity)
        if user is not None:
            assert info.st_uid == user.pw_uid, identity
