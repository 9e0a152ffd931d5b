"""Building blocks for activity tests: orders, catalogue entries, engines, unsealers."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import ActivityEnvironment

from orders.contract.identities import Identity
from orders.models import OrderItem, OrderRef, OrderRequest
from orders.security.sealing import Sealer, Unsealer
from tests.support.openbao import Transits
from tests.support.postgres import OrdersDb, execute, fetch

A = TypeVar("A")
T = TypeVar("T")

EMAIL = "jane.doe@example.com"
ADDRESS = "1 Main Street, 1000 Brussels"
REFERENCE = "tok_visa_4242"


def order_id() -> str:
    """A fresh order id."""
    return f"ord-{uuid.uuid4()}"


def new_order(
    *items: tuple[str, int], address: str = ADDRESS, email: str = EMAIL, currency: str = "EUR"
) -> OrderRequest:
    """A plaintext order for ``items`` ((sku, quantity) pairs) with a fresh id.

    Activities never see this form: seal it (``sealer.seal_order``) as the client does.
    """
    return OrderRequest(
        order_id=order_id(),
        customer_id="cust-1",
        customer_email=email,
        shipping_address=address,
        payment_reference=REFERENCE,
        currency=currency,
        items=tuple(OrderItem(sku=sku, quantity=qty) for sku, qty in items),
    )


async def new_sku(db: OrdersDb, *, price_cents: int = 1000, available: int = 10) -> str:
    """A catalogue entry only this test uses (so stock counts are its own)."""
    sku = "T-" + uuid.uuid4().hex[:12].upper()
    await execute(
        db,
        "INSERT INTO orders.inventory (sku, name, price_cents, available) VALUES ($1, $2, $3, $4)",
        sku,
        f"test item {sku}",
        price_cents,
        available,
    )
    return sku


async def stock(db: OrdersDb, sku: str) -> tuple[int, int]:
    """(available, reserved) of ``sku``."""
    (row,) = await fetch(db, "SELECT available, reserved FROM orders.inventory WHERE sku = $1", sku)
    return row["available"], row["reserved"]


async def count(db: OrdersDb, table: str, order: str) -> int:
    """Rows of ``table`` for order ``order``."""
    column = "id" if table == "orders" else "order_id"
    (row,) = await fetch(db, f"SELECT count(*) AS n FROM orders.{table} WHERE {column} = $1", order)
    return int(row["n"])


class Engines:
    """One engine per identity, each logging in as a Vault-style member of its group."""

    def __init__(self, db: OrdersDb) -> None:
        self._db = db
        self._engines: dict[str, AsyncEngine] = {}

    async def __call__(self, identity: Identity) -> AsyncEngine:
        """The engine of ``identity`` (created on first use)."""
        if identity.name not in self._engines:
            self._engines[identity.name] = await self._db.engine_for(identity)
        return self._engines[identity.name]


class Unsealers:
    """One unsealer per identity, each holding only that identity's Vault token."""

    def __init__(self, transits: Transits) -> None:
        self._transits = transits

    def __call__(self, identity: Identity, *, token_of: Identity | None = None) -> Unsealer:
        """``identity``'s unsealer; ``token_of`` wires another identity's token (a mistake)."""
        return Unsealer(self._transits(token_of or identity), identity)


DEFAULT_RUN = ActivityEnvironment.default_info().workflow_run_id
"""The run every :func:`run` call acts for (so repeated calls are retries of one run)."""


async def run(fn: Callable[[A], Awaitable[T]], arg: A) -> T:
    """Run an activity in a real activity context (logger, info), as a worker would."""
    return await ActivityEnvironment().run(fn, arg)


async def run_as(run_id: str | None, fn: Callable[[A], Awaitable[T]], arg: A) -> T:
    """Run an activity as if scheduled by workflow run ``run_id`` (Temporal's own info)."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_run_id=run_id)
    return await env.run(fn, arg)


async def recorded_order(db: OrdersDb, engines: Engines, sealer: Sealer) -> OrderRef:
    """An order of one fresh item, sealed and recorded as ``validate_order`` does."""
    from activities.validate import ValidateOrder
    from orders.contract import identities

    sku = await new_sku(db)
    order = await sealer.seal_order(new_order((sku, 1)))
    await run(ValidateOrder(await engines(identities.ORDER_VALIDATE)).validate_order, order)
    return OrderRef(order_id=order.order_id)
