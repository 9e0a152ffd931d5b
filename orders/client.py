"""Client-side operations on orders (used by the CLI, the demo and the tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client, WorkflowHandle

from orders import identities
from orders.models import OrderItem, OrderRequest, OrderStatus, workflow_id_for

STATUS_QUERY = "status"


class InvalidOrderError(ValueError):
    """An order that was refused before anything was started or written.

    The message names each offending field and never repeats its value (it may be PII).
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{field}: {msg}" for field, msg in problems))


def parse_order(data: dict[str, Any]) -> OrderRequest:
    """Validate an order.

    Raises:
        InvalidOrderError: Naming every invalid or missing field.
    """
    try:
        return OrderRequest.model_validate(data)
    except ValidationError as exc:
        problems = [
            (".".join(str(p) for p in err["loc"]) or "order", err["msg"]) for err in exc.errors()
        ]
        raise InvalidOrderError(problems) from None


def order_from_json(path: Path) -> OrderRequest:
    """Read and validate an order from a JSON file."""
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InvalidOrderError([("order", f"not valid JSON (line {exc.lineno})")]) from None
    if not isinstance(data, dict):
        raise InvalidOrderError([("order", "must be a JSON object")])
    return parse_order(data)


def parse_items(specs: list[str]) -> list[dict[str, Any]]:
    """``["SKU-1:2", ...]`` -> item dicts (validation happens in the model)."""
    items: list[dict[str, Any]] = []
    for spec in specs:
        sku, sep, qty = spec.partition(":")
        if not sep or not qty.strip().lstrip("-").isdigit():
            raise InvalidOrderError([("items", f"expected SKU:QUANTITY, got {spec!r}")])
        items.append(OrderItem.model_construct(sku=sku.strip(), quantity=int(qty)).__dict__)
    return items


async def place(client: Client, order: OrderRequest) -> WorkflowHandle[Any, OrderStatus]:
    """Start the order's workflow on the workflow identity's queue."""
    from workflows import OrderWorkflow

    return await client.start_workflow(
        OrderWorkflow.run,
        order,
        id=order.workflow_id,
        task_queue=identities.ORDER_WORKFLOW.task_queue,
    )


async def status(client: Client, order_or_workflow_id: str) -> OrderStatus:
    """Query an order's status by order id or workflow id."""
    wid = (
        order_or_workflow_id
        if order_or_workflow_id.startswith("order-")
        else workflow_id_for(order_or_workflow_id)
    )
    handle = client.get_workflow_handle(wid)
    result: OrderStatus = await handle.query(STATUS_QUERY, result_type=OrderStatus)
    return result
