"""The dev stack's Prometheus sees what an operator must see, for the right identity (#17).

After an order, a forged signal, a rejected approval, a refused cross-identity call and a
credential rotation, the matching series move — read over Prometheus's HTTP API, as an
operator's dashboard would. Every scrape target is up (workers, their SDK runtimes, the
codec server, the front, the dev server, OpenBao with a token that may read its metrics and
nothing else), and no test order's PII is in any label Prometheus stored.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import PollActivityTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from orders.approvals import RejectReason
from orders.contract import identities
from orders.deploy import dashboard
from orders.devstack.servers.prometheus import TOKEN_FILE
from orders.devstack.state import StackInfo, StackPaths
from orders.models import Outcome
from orders.observability import names
from tests.support import series
from tests.support.approvals import Target, large, send_signal, send_update, signed
from tests.support.stack import complete, make_order, vault
from tests.support.stack_approvals import awaiting, signer
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration

WORKFLOW = identities.ORDER_WORKFLOW.name
VALIDATE = identities.ORDER_VALIDATE.name
CLIENT = identities.ORDER_CLIENT.name


async def query(stack: StackInfo, promql: str) -> float:
    """The value of ``sum(promql)`` now (0 when no series matches yet)."""
    async with httpx.AsyncClient(base_url=str(stack.prometheus_url), timeout=5) as http:
        answer = (await http.get("/api/v1/query", params={"query": f"sum({promql})"})).json()
    result = answer["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


async def moved(stack: StackInfo, promql: str, before: float, timeout: float = 60) -> None:
    async def check() -> bool:
        return await query(stack, promql) > before

    await wait_for(check, timeout=timeout, interval=1.0)


SERIES = {
    "order": f'{names.ORDER_OUTCOMES}_total{{identity="{WORKFLOW}",outcome="COMPLETED"}}',
    "forged signal": (
        f'{names.APPROVALS_REJECTED}_total{{identity="{WORKFLOW}",entry="signal",'
        f'reason="{RejectReason.MALFORMED.value}"}}'
    ),
    "rejected approval": (
        f'{names.APPROVALS_REJECTED}_total{{identity="{WORKFLOW}",entry="validator",'
        f'reason="{RejectReason.REPLAYED_NONCE.value}"}}'
    ),
    "accepted approval": (
        f'{names.APPROVALS_ACCEPTED}_total{{identity="{WORKFLOW}",entry="update"}}'
    ),
    "refused call": (
        f'{names.FRONT_DENIED}_total{{identity="{CLIENT}",call="PollActivityTaskQueue"}}'
    ),
    "rotation": f'{names.CREDENTIAL_GENERATIONS}_total{{identity="{VALIDATE}",event="replaced"}}',
    "renewal": f'{names.CREDENTIAL_GENERATIONS}_total{{identity="{VALIDATE}",event="renewed"}}',
}


STACK_LIFETIME = ("rotation", "renewal")
"""Series that move by the clock, checked over the session stack's life."""


async def test_security_events_and_outcomes_move_their_series(
    stack: StackInfo, stack_paths: StackPaths, client: Client
) -> None:
    before = {name: await query(stack, promql) for name, promql in SERIES.items()}

    order = make_order("obs")
    assert (await complete(client, order)).outcome is Outcome.COMPLETED

    handle = await awaiting(client, large(laptops=4), deadline=20)  # ends by itself
    target = await Target.of(handle, client.namespace)
    approval = await signed(signer(stack, stack_paths), target.message("bob"))
    assert await send_update(handle, approval) is None
    assert await send_update(handle, approval) is RejectReason.REPLAYED_NONCE
    await send_signal(handle, {"forged": "approval"})

    # order-client polling order-validate's queue: the front refuses it, by name.
    request = PollActivityTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=identities.ORDER_VALIDATE.task_queue),
        identity="obs-test",
    )
    with pytest.raises(RPCError) as refused:
        await client.workflow_service.poll_activity_task_queue(request)
    assert refused.value.status is RPCStatusCode.PERMISSION_DENIED

    for name, promql in SERIES.items():
        if name in STACK_LIFETIME:
            continue
        await moved(stack, promql, before[name])
    # Credentials rotate on their own clock (test TTLs: order-validate's generation is
    # replaced every 30 s at most), not on this test's: counted since the stack started
    # (every counter starts at 0), so no wait for the next one.
    for name in STACK_LIFETIME:
        await moved(stack, SERIES[name], 0.0)

    # Nothing a test order carried is in any stored label.
    async with httpx.AsyncClient(base_url=str(stack.prometheus_url), timeout=10) as http:
        series = await http.get("/api/v1/series", params={"match[]": '{__name__=~".+"}'})
    text = series.text
    assert series.status_code == 200
    for pii in (order.order_id, order.customer_email, order.shipping_address, "ann@example"):
        assert pii not in text, pii


async def test_every_target_is_scraped(stack: StackInfo) -> None:
    expected = {"orders", "temporal-sdk", "front", "temporal-server", "openbao"}

    async def all_up() -> Any:
        async with httpx.AsyncClient(base_url=str(stack.prometheus_url), timeout=5) as http:
            targets = (await http.get("/api/v1/targets")).json()["data"]["activeTargets"]
        down = [(t["labels"]["job"], t["lastError"]) for t in targets if t["health"] != "up"]
        jobs = {t["labels"]["job"] for t in targets}
        return (not down and jobs == expected) or None

    await wait_for(all_up, timeout=30, interval=1.0)
    workers = [i.name for i in identities.workers()]
    assert await query(stack, 'up{job="temporal-sdk"}') == len(workers)
    assert await query(stack, 'up{job="orders"}') == len(workers) + 1  # and the codec server
    # Each worker's SDK series carry its identity (global tag), e.g. its task slots.
    for identity in workers:
        assert await query(stack, f'temporal_worker_task_slots_available{{identity="{identity}"}}')


def test_the_openbao_scrape_token_reads_metrics_and_nothing_else(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    token_file = stack_paths.dev / "prometheus" / TOKEN_FILE
    assert token_file.stat().st_mode & 0o077 == 0
    scraper = vault(stack, token_file.read_text().strip())
    metrics = scraper.adapter.get("/v1/sys/metrics", params={"format": "prometheus"})
    assert "vault_" in (metrics.text if hasattr(metrics, "text") else str(metrics))
    for path in (
        f"database/creds/{identities.ORDER_VALIDATE.db_role}",
        "sys/policies/acl",
        "transit/keys",
        "auth/token/lookup-self",
    ):
        with pytest.raises(Exception, match="permission denied"):
            scraper.read(path)


async def test_the_derived_series_list_holds_every_series_a_worker_serves(
    stack: StackInfo,
) -> None:
    """The deployments' dashboard is checked offline against a list derived from the code
    and the SDK Core source (``tests/support/series.py``): here, against a real scrape."""
    async with httpx.AsyncClient(base_url=str(stack.prometheus_url), timeout=5) as http:

        async def served() -> set[str] | None:
            answer = await http.get(
                "/api/v1/label/__name__/values",
                params={"match[]": ['{job=~"temporal-sdk|orders"}']},
            )
            found = set(answer.json()["data"])
            return found if dashboard.SDK_SLOTS_AVAILABLE in found else None

        names_served = await wait_for(served, timeout=30, interval=1.0)
    assert names_served - series.exported() == set()
    assert {dashboard.SDK_SLOTS_AVAILABLE, dashboard.SDK_SLOTS_USED} <= names_served
