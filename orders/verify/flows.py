"""The checks that run orders through the deployment, as ``order-client``.

* raw-history PII scan (:mod:`orders.verify.history`): orders with marker PII, one
  completed and one declined, read back raw;
* codec server (:mod:`orders.verify.codec`): the first order's stored input decoded by a
  viewer, refused (403) to a person without the namespace, bad tokens 401, CORS;
* forged and replayed approvals (:mod:`orders.verify.approvals`): two large orders waiting
  for approval; each attack refused by the workflow's validator, then a valid rejection
  signed by the approver closes both (nothing is paid).
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from orders import client as orders_client
from orders import oidc
from orders.approvals import Decision
from orders.contract.api import STATUS_QUERY
from orders.models import ApprovalPolicy, OrderItem, OrderRequest, OrderStatus, Outcome, Step
from orders.security.trust import httpx_verify
from orders.vault.approvers import sign_as
from orders.verify import approvals, codec, history, seat
from orders.verify.report import CheckResult, result
from orders.verify.target import Person, Target

ORDER_SECONDS = 90.0


async def _poll(check: Callable[[], Awaitable[bool]], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.2)
    return False


async def check_history(client: Client, tag: str) -> tuple[CheckResult, Payloads | None]:
    """Place PII-marked orders, scan their raw histories; the first order's stored input."""
    started = time.monotonic()
    orders = {
        Outcome.COMPLETED: history.pii_order(tag, "alpha", "SKU-WIDGET"),
        Outcome.PAYMENT_DECLINED: history.pii_order(
            tag, "bravo", "SKU-GADGET", ref=f"decline-{tag}"
        ),
    }
    handles = [await orders_client.place(client, o) for o in orders.values()]
    results = await asyncio.gather(*(asyncio.wait_for(h.result(), ORDER_SECONDS) for h in handles))
    problems = [
        f"{o.order_id}: outcome {r.outcome} (expected {want})"
        for (want, o), r in zip(orders.items(), results, strict=True)
        if r.outcome is not want
    ]
    stored: Payloads | None = None
    for order, handle in zip(orders.values(), handles, strict=True):
        fetched = await handle.fetch_history()
        problems += history.leaks(fetched.to_json(), order)
        first = fetched.events[0]
        if stored is None and first.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            stored = first.workflow_execution_started_event_attributes.input
    ok = f"{len(orders)} orders' raw histories: no PII, no failure text, payloads encrypted"
    return result("history-pii", started, problems, ok), stored


async def person_token(target: Target, person: Person) -> str:
    """A fresh ID token of ``person`` for the codec server (OIDC code flow with PKCE)."""
    return await oidc.fetch_person_token(
        target.vault.address,
        target.codec_server.client_id,
        person.username,
        person.password(),
        verify=target.vault_verify,
    )


async def check_codec(target: Target, stored: Payloads, order_customer: str) -> CheckResult:
    """Decode for a viewer only; 401 for bad tokens, 403 without the namespace; CORS."""
    started = time.monotonic()
    ns = target.temporal.namespace
    body = json_format.MessageToJson(stored)
    viewer = await person_token(target, target.people.viewer)
    outsider = await person_token(target, target.people.outsider)
    problems: list[str] = []
    async with httpx.AsyncClient(
        base_url=target.codec_server.url, timeout=30, verify=httpx_verify(target.vault_verify)
    ) as http:
        ok = await codec.post_decode(http, body, viewer, ns)
        if ok.status_code != 200:
            problems.append(f"viewer's decode: HTTP {ok.status_code}")
        else:
            decoded = json.loads(json_format.Parse(ok.content, Payloads()).payloads[0].data)
            if decoded.get("customer_id") != order_customer:
                problems.append("viewer's decode does not give the order back")
            problems += [
                f"{field} not sealed for a viewer"
                for field in ("customer_email", "shipping_address", "payment_reference")
                if not str(decoded.get(field, "")).startswith("sealed:v2.")
            ]
        for who, token, namespace in (("outsider", outsider, ns), ("viewer", viewer, "billing")):
            resp = await codec.post_decode(http, body, token, namespace)
            if resp.status_code != 403:
                problems.append(f"{who} decoding namespace {namespace}: HTTP {resp.status_code}")
        problems += await codec.unauthenticated_problems(http, body, viewer, ns)
        problems += await codec.cors_problems(http, target.codec_server.ui_origin, body, viewer, ns)
    ok_text = "viewer decodes (sealed fields stay sealed); 5 bad tokens 401; 403; CORS UI only"
    return result("codec-server", started, problems, ok_text)


def _large(tag: str, n: int) -> OrderRequest:
    return OrderRequest(
        order_id=f"verify-{tag}-approval-{n}",
        customer_id=f"cust-verify-{tag}",
        customer_email=f"approval-{n}.{tag}@private.example",
        shipping_address=f"{tag} Approval Lane {n}",
        payment_reference=f"tok-{tag}-{n}",
        items=(OrderItem(sku="SKU-LAPTOP", quantity=1),),
    )


async def _status(handle: WorkflowHandle[Any, Any]) -> OrderStatus:
    status: OrderStatus = await handle.query(STATUS_QUERY, result_type=OrderStatus)
    return status


async def check_approvals(target: Target, client: Client, tag: str) -> CheckResult:
    """Forged and replayed approvals refused; a valid rejection by the approver accepted."""
    started = time.monotonic()
    approver = target.people.approver
    password = approver.password()

    async def sign(name: str, data: bytes) -> str:
        # The approver's own login: a claim to be someone else is signed with their key.
        del name
        return await sign_as(
            target.vault.address, approver.username, password, data, verify=target.vault_verify
        )

    policy = ApprovalPolicy(deadline_seconds=120)
    handles = [await orders_client.place(client, _large(tag, n), policy) for n in (1, 2)]
    for handle in handles:
        if not await _poll(functools.partial(_waiting, handle), timeout=ORDER_SECONDS):
            return result("approvals", started, [f"{handle.id} never awaited approval"], "")
    ns = client.namespace
    first, second = [await approvals.OrderRef.of(h, ns) for h in handles]
    problems = []
    cases = await approvals.forged_and_replayed(first, second, sign, approver.username)
    for expected, approval in cases:
        got = await approvals.send_update(handles[0], approval)
        if got is not expected:
            problems.append(f"{expected.value} approval: {got.value if got else 'ACCEPTED'}")
    status = await _status(handles[0])
    if status.approvals or status.step is not Step.AWAITING_APPROVAL:
        problems.append(f"after the attacks: {status.step}, {len(status.approvals)} approvals")
    # Close both orders with the approver's genuine rejection: nothing is paid.
    for ref, handle in zip((first, second), handles, strict=True):
        reject = await approvals.signed(
            sign, ref.message(approver.username, decision=Decision.REJECT)
        )
        if (got := await approvals.send_update(handle, reject)) is not None:
            problems.append(f"the approver's genuine rejection refused: {got.value}")
            continue
        final = OrderStatus.model_validate(await asyncio.wait_for(handle.result(), ORDER_SECONDS))
        if final.outcome is not Outcome.REJECTED:
            problems.append(f"{handle.id}: {final.outcome} after a rejection")
    ok = f"{len(cases)} forged/tampered/replayed/expired approvals refused; genuine one accepted"
    return result("approvals", started, problems, ok)


async def _waiting(handle: WorkflowHandle[Any, Any]) -> bool:
    return (await _status(handle)).step is Step.AWAITING_APPROVAL


async def run(target: Target, selected: set[str]) -> list[CheckResult]:
    """The order-driven checks among ``selected``, sharing one ``order-client``."""
    tag = uuid.uuid4().hex[:8]
    async with seat.temporal_client(target) as client:
        jobs: dict[str, asyncio.Task[Any]] = {}
        if selected & {"history-pii", "codec-server"}:
            jobs["history"] = asyncio.create_task(check_history(client, tag))
        if "approvals" in selected:
            jobs["approvals"] = asyncio.create_task(check_approvals(target, client, tag))
        results: list[CheckResult] = []
        if "history" in jobs:
            scanned, stored = await jobs["history"]
            if "history-pii" in selected:
                results.append(scanned)
            if "codec-server" in selected:
                if stored is None:
                    results.append(result("codec-server", time.monotonic(), ["no payload"], ""))
                else:
                    results.append(await check_codec(target, stored, f"cust-{tag}"))
        if "approvals" in jobs:
            results.append(await jobs["approvals"])
        return results
