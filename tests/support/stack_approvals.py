"""Approval helpers against the session stack: approvers' real Vault signatures, orders
large enough to need approval, waiting for the approval step, and what the record shows.
"""

from __future__ import annotations

import base64
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from orders import client as orders_client
from orders.contract import approval_policy, transit_names
from orders.devstack import people as dev_people
from orders.devstack.state import StackInfo, StackPaths
from orders.models import ApprovalPolicy, OrderRequest, Step
from orders.vault import approvers as vault_approvers
from tests.support.approvals import Signer, status_of
from tests.support.stack import admin_pg, eventually, vault


def signer(stack: StackInfo, paths: StackPaths) -> Signer:
    """Signs as each approver through their own Vault login (inactive ones: as root)."""
    inactive = {a.name for a in approval_policy.APPROVERS if not a.active}

    async def sign(name: str, data: bytes) -> str:
        if name in inactive:
            # Vault no longer lets them sign (no group): this is an approval they signed
            # while still active, which the workflow must refuse all the same.
            signed = vault(stack, stack.root_token()).write_data(
                f"{transit_names.TRANSIT_MOUNT}/sign/{approval_policy.approver_key(name)}",
                data={"input": base64.b64encode(data).decode()},
            )
            signature: str = signed["data"]["signature"]
            return signature
        # Unknown names sign with bob's login (the claim, not the key, is what is tested).
        login = name if any(a.name == name for a in approval_policy.APPROVERS) else "bob"
        password = dev_people.dev_password(paths, login)
        return await vault_approvers.sign_as(
            stack.vault_addr, login, password, data, verify=stack.verify
        )

    return sign


async def awaiting(
    client: Client, order: OrderRequest, deadline: int = 120
) -> WorkflowHandle[Any, Any]:
    """Place ``order`` and wait until it waits for approval."""
    handle = await orders_client.place(client, order, ApprovalPolicy(deadline_seconds=deadline))

    async def ready() -> bool:
        return (await status_of(handle)).step is Step.AWAITING_APPROVAL

    await eventually(ready, timeout=60)
    return handle


async def approve_as(
    client: Client,
    stack: StackInfo,
    paths: StackPaths,
    order_id: str,
    approver: str = "bob",
    decision: str = "approve",
) -> None:
    """``approver`` signs ``decision`` for the order with their own login; sent as the Update."""
    await orders_client.approve(
        client,
        order_id,
        approver=approver,
        password=dev_people.dev_password(paths, approver),
        vault_addr=stack.vault_addr,
        verify=stack.verify,
        decision=decision,
    )


async def payments(stack: StackInfo, order_id: str) -> int:
    """How many payment rows the order has (admin connection)."""
    conn = await admin_pg(stack)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM orders.payments WHERE order_id = $1", order_id
        )
        return count
    finally:
        await conn.close()


async def failed_tasks(handle: WorkflowHandle[Any, Any]) -> int:
    """How many workflow tasks failed in the workflow's history."""
    history = await handle.fetch_history()
    return sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for e in history.events)
