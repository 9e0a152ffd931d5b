"""A versioned rollout on the session stack (docs/evolving-workflows.md).

The stack's ``order-workflow`` worker polls as version 1 (its build ID, made current by
``orders dev up``). A second ``order-workflow`` worker — in this process, with the identity's
own Vault login, certificate and codec, and another build ID — is version 2. An order that
waits for its approver on version 1 finishes on version 1 after version 2 was made current,
while a new order runs on version 2: read from Temporal (the run's versioning info and the
deployment version of each workflow task in its history), not assumed. The worker identity
itself may not make its version current; the operator's seat (``temporal-admin``) may, and
the CLI names a build ID no worker polled with.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode, ServiceClient

from orders import client as orders_client
from orders import rollout
from orders.contract import identities
from orders.devstack import actas
from orders.devstack.identity_env import identity_settings
from orders.devstack.state import StackInfo, StackPaths
from orders.models import OrderStatus, Outcome
from tests.support.approvals import large
from tests.support.stack import make_order, orders_cli
from tests.support.stack_approvals import approve_as, awaiting
from tests.support.wait import wait_for
from workers.build import build_worker

pytestmark = pytest.mark.integration

WORKFLOW = identities.ORDER_WORKFLOW


async def pinned_build(handle: WorkflowHandle[Any, Any]) -> str:
    """The build ID the run is pinned to (its versioning info)."""
    described = await handle.describe()
    info = described.raw_description.workflow_execution_info.versioning_info
    assert info.behavior == 1, info  # VERSIONING_BEHAVIOR_PINNED
    build: str = info.deployment_version.build_id
    return build


async def task_builds(handle: WorkflowHandle[Any, Any]) -> set[str]:
    """The deployment version (build ID) of every workflow task completed in the history."""
    history = await handle.fetch_history()
    return {
        e.workflow_task_completed_event_attributes.deployment_version.build_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    }


@contextlib.asynccontextmanager
async def second_version(stack: StackInfo, paths: StackPaths, build: str) -> AsyncIterator[Client]:
    """``order-workflow``'s worker at ``build``, with that identity's own credentials."""
    async with actas.temporal_client(stack, paths, WORKFLOW) as client:
        settings = identity_settings(stack, paths, WORKFLOW).model_copy(update={"build_id": build})
        deployment = rollout.deployment_config(WORKFLOW, settings)
        assert deployment is not None
        worker = build_worker(client, WORKFLOW, None, build_id=build, deployment=deployment)
        async with worker:
            yield client


@pytest.fixture
async def operator(stack: StackInfo, stack_paths: StackPaths) -> ServiceClient:
    """The operator's seat (``temporal-admin``, issued with the stack's root token)."""
    return await actas.operator_service(stack, stack_paths)


async def test_a_v1_run_finishes_on_v1_while_new_runs_go_to_v2(
    stack: StackInfo, stack_paths: StackPaths, client: Client, operator: ServiceClient
) -> None:
    ns = stack.namespace
    v1 = rollout.build_id(identity_settings(stack, stack_paths, WORKFLOW))
    assert (await rollout.describe(operator, ns, WORKFLOW)).current == v1
    first = large(customer="cust-rollout")
    waiting = await awaiting(client, first)
    assert await pinned_build(waiting) == v1

    v2 = f"rollout-v2-{uuid.uuid4().hex[:8]}"
    async with second_version(stack, stack_paths, v2) as worker_client:

        async def polled() -> bool:
            state = await rollout.describe(operator, ns, WORKFLOW)
            return v2 in {v.build_id for v in state.versions}

        await wait_for(polled, timeout=15)
        # The worker identity, holding everything its worker holds, may not promote itself
        # (Temporal would: the version has polled): it would receive every new order.
        with pytest.raises(RPCError) as refused:
            await rollout.set_current(worker_client.service_client, ns, WORKFLOW, v2)
        assert refused.value.status is RPCStatusCode.PERMISSION_DENIED
        state = await rollout.describe(operator, ns, WORKFLOW)
        assert (state.current, {v.build_id: v.status for v in state.versions}[v2]) == (
            v1,
            "inactive",
        )
        try:
            assert await rollout.set_current(operator, ns, WORKFLOW, v2) == v1
            second = make_order("rollout")
            handle = await orders_client.place(client, second)
            done = OrderStatus.model_validate(await asyncio.wait_for(handle.result(), 30))
            assert done.outcome is Outcome.COMPLETED
            assert await pinned_build(handle) == v2
            assert await task_builds(handle) == {v2}
            state = await rollout.describe(operator, ns, WORKFLOW)
            assert state.current == v2
            assert {v.build_id: v.status for v in state.versions}[v1] == "draining"

            # The first order's approver answers now: it finishes where it started.
            await approve_as(client, stack, stack_paths, first.order_id)
            final = OrderStatus.model_validate(await asyncio.wait_for(waiting.result(), 30))
            assert final.outcome is Outcome.COMPLETED
            assert await pinned_build(waiting) == v1
            assert await task_builds(waiting) == {v1}
        finally:
            # The session stack's other tests run on version 1.
            await rollout.set_current(operator, ns, WORKFLOW, v1)


def test_promoting_a_build_nobody_polled_with_names_it(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    done = orders_cli(stack_paths, "deploy", "promote", "--build-id", "never-polled-7")
    assert done.returncode == 2, done.stderr
    assert "never-polled-7" in done.stderr
    assert "order-workflow" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    shown = orders_cli(stack_paths, "deploy", "status")
    assert shown.returncode == 0, shown.stderr
    v1 = rollout.build_id(identity_settings(stack, stack_paths, WORKFLOW))
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in shown.stdout.splitlines()]
    assert [v1, "current"] in rows, shown.stdout
