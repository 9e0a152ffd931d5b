"""The demo's erasure scenario: forget a customer, show what can no longer be opened.

A part of ``orders demo`` (:mod:`orders.demo`): an order of a fresh customer completes; its
sealed address opens for order-fulfill; ``customer-eraser`` forgets the customer (as
``orders customer forget`` does); the same sealed value, still in the history, no longer
opens for order-fulfill; the customer's next order completes under new key material.
"""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.table import Table
from temporalio.client import Client

from orders import client as orders_client
from orders import erasure, evidence
from orders.contract import identities
from orders.db.engine import create_engine
from orders.devstack import actas
from orders.devstack.state import StackInfo, StackPaths
from orders.models import OrderItem, OrderRequest, Outcome
from orders.security.customer_keys import CustomerErasedError
from orders.security.sealing import Unsealer

ORDER_TIMEOUT = 120.0


def _order(run_id: str, n: int) -> OrderRequest:
    return OrderRequest(
        order_id=f"demo-{run_id}-forget-{n}",
        customer_id=f"cust-forget-{run_id}",
        customer_email=f"forget.{run_id}@example.com",
        shipping_address="3 Oblivion Court, Lethe",
        payment_reference="tok-4242",
        currency="EUR",
        items=(OrderItem(sku="SKU-WIDGET", quantity=1),),
    )


async def _complete(client: Client, order: OrderRequest) -> Outcome | None:
    handle = await orders_client.place(client, order)
    return (await asyncio.wait_for(handle.result(), ORDER_TIMEOUT)).outcome


async def _open_address(stack: StackInfo, paths: StackPaths, order_id: str, sealed: str) -> str:
    """What order-fulfill gets for the sealed address (a fresh login: nothing cached)."""
    async with actas.acting(stack, paths, identities.ORDER_FULFILL) as act:
        try:
            await Unsealer(act.transit, identities.ORDER_FULFILL).unseal(
                "shipping_address", order_id, sealed
            )
        except CustomerErasedError:
            return "erased: the customer's key is destroyed"
        return "opened"


async def _forget(stack: StackInfo, paths: StackPaths, customer_id: str) -> erasure.Erasure:
    async with actas.acting(stack, paths, identities.CUSTOMER_ERASER) as act:
        engine = create_engine(act.settings, act.session)
        try:
            return await erasure.forget(
                client=act.client, transit=act.transit, engine=engine, customer_id=customer_id
            )
        finally:
            await engine.dispose()


async def erasure_evidence(
    client: Client, stack: StackInfo, paths: StackPaths, out: Console, run_id: str
) -> bool:
    """Run the erasure scenario, print its table; True when everything behaved."""
    table = Table(title="9. Right to erasure (crypto-shredding)", title_justify="left")
    for col in ("step", "as identity", "result"):
        table.add_column(col, overflow="fold")
    first, again = _order(run_id, 1), _order(run_id, 2)
    placed = await _complete(client, first)
    ok = placed is Outcome.COMPLETED
    table.add_row("order of a fresh customer", identities.ORDER_CLIENT.name, str(placed))
    started = (await evidence.decoded_history(client, first.workflow_id))[0].payloads[0]
    assert isinstance(started, dict)
    sealed = str(started["shipping_address"])
    before = await _open_address(stack, paths, first.order_id, sealed)
    ok &= before == "opened"
    table.add_row("open the address from history", identities.ORDER_FULFILL.name, before)
    done = await _forget(stack, paths, first.customer_id)
    ok &= done.key_destroyed and done.orders == 1
    table.add_row(
        "orders customer forget",
        identities.CUSTOMER_ERASER.name,
        f"key of customer tag {done.customer_tag} destroyed; recorded: {done.orders} order, "
        f"{done.rows} database values, {done.histories} history",
    )
    after = await _open_address(stack, paths, first.order_id, sealed)
    ok &= after.startswith("erased")
    table.add_row("open the same value again", identities.ORDER_FULFILL.name, after)
    # A client started after the erasure (a running one keeps its key up to 5 minutes).
    async with actas.temporal_client(stack, paths) as fresh:
        placed = await _complete(fresh, again)
    ok &= placed is Outcome.COMPLETED
    table.add_row("the customer's next order", identities.ORDER_CLIENT.name, f"{placed} (new key)")
    out.print(table)
    return ok
