"""Right to erasure: crypto-shred one customer (``orders customer forget``).

Run as the ``customer-eraser`` identity, whose policy allows exactly this: name the
customer's Transit key (HMAC of the id), destroy it, read which orders the customer has
(ids only) and whether their workflows still run, and insert the erasure record. Once the
key is deleted, every ``sealed:v2`` value of the customer — in Temporal's histories, the
``orders`` table, and every backup or dump of either — is undecryptable with every key and
policy that remains (:mod:`orders.security.customer_keys`). Vault's audit log records the
calls; the ``erasures`` row names the customer by tag only and the operator by the
Vault-issued login that wrote it.

Refused while one of the customer's orders is in flight: fulfilment and the notification
still need the address and e-mail. A workflow started between the check and the deletion
(a race of seconds) fails at fulfilment with ``CustomerErased`` and compensates.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from orders.contract.transit_names import SEALED_FIELDS, customer_key
from orders.db.schema import erasures, orders
from orders.models import workflow_id_for
from orders.security.customer_keys import CustomerKeys
from orders.security.transit import TransitClient

ROW_FIELDS: Final = tuple(s.field for s in SEALED_FIELDS if s.field in orders.c)
"""Sealed columns of an ``orders`` row (the payment reference lives only in history)."""


class OrdersInFlightError(RuntimeError):
    """The customer has orders whose workflow still runs; nothing was changed.

    Attributes:
        order_ids: The running orders.
    """

    def __init__(self, order_ids: list[str]) -> None:
        self.order_ids = order_ids
        super().__init__(f"orders in flight: {', '.join(order_ids)}")


@dataclass(frozen=True)
class Erasure:
    """What ``forget`` did.

    Attributes:
        customer_tag: The customer's tag (names their key; not their id).
        key_destroyed: Whether a customer key existed and was deleted (False: nothing of
            theirs was ever sealed under one, or it was erased before).
        orders: The customer's orders recorded in the database.
        rows: Sealed values in the database made unreadable (``orders`` row fields).
        histories: Workflow histories (still retained by Temporal) whose sealed fields
            became unreadable.
    """

    customer_tag: str
    key_destroyed: bool
    orders: int
    rows: int
    histories: int


async def customer_orders(engine: AsyncEngine, customer_id: str) -> list[str]:
    """Ids of the customer's recorded orders, oldest first by id."""
    async with engine.connect() as conn:
        result = await conn.execute(
            select(orders.c.id).where(orders.c.customer_id == customer_id).order_by(orders.c.id)
        )
        return [str(row.id) for row in result]


async def _status(client: Client, order_id: str) -> WorkflowExecutionStatus | None:
    try:
        return (await client.get_workflow_handle(workflow_id_for(order_id)).describe()).status
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return None  # history no longer retained (or the order never got a workflow)
        raise


async def forget(
    *, client: Client, transit: TransitClient, engine: AsyncEngine, customer_id: str
) -> Erasure:
    """Crypto-shred ``customer_id``: refuse if in flight, destroy the key, record it.

    Args:
        client: Temporal client of the eraser (describes the customer's workflows).
        transit: Transit client of the eraser (names and destroys the customer's key).
        engine: Engine of the eraser's own database role.
        customer_id: The customer (used only to compute the tag and find the orders; never
            stored or logged).

    Raises:
        OrdersInFlightError: Naming the running orders; nothing was changed.
        TransitDeniedError: This is not the eraser's token.
        VaultUnavailableError: Vault unreachable; nothing or only the key was destroyed
            (run again: destroying is idempotent and the record follows).
    """
    tag = await CustomerKeys(transit).tag(customer_id)
    order_ids = await customer_orders(engine, customer_id)
    statuses = await asyncio.gather(*(_status(client, oid) for oid in order_ids))
    running = [
        oid
        for oid, status in zip(order_ids, statuses, strict=True)
        if status is WorkflowExecutionStatus.RUNNING
    ]
    if running:
        raise OrdersInFlightError(running)
    histories = sum(status is not None for status in statuses)
    # One transaction around the destruction: a refused or failed delete leaves no record,
    # and a record that cannot be written stops before anything is destroyed.
    async with engine.begin() as conn:
        await conn.execute(
            # Inline: no RETURNING of the server-made key (the eraser may not SELECT here).
            insert(erasures)
            .inline()
            .values(customer_tag=tag, orders_affected=len(order_ids), histories_affected=histories)
        )
        destroyed = await transit.destroy_key(customer_key(tag))
    return Erasure(tag, destroyed, len(order_ids), len(order_ids) * len(ROW_FIELDS), histories)
