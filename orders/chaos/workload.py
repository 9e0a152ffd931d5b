"""A stream of orders of known expected outcome, placed while faults are injected.

The mix covers every saga path: completed orders, out of stock (nothing held, nothing
charged), declined payments (inventory released) and undeliverable addresses (refund, then
release). Placing an order retries while Vault or Temporal is unreachable (nothing is
started until it succeeds); waiting for a result retries while the result cannot be
decoded. Every order carries its own fake PII, so the logs can be scanned for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Final

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from orders import client as orders_client
from orders import logging as olog
from orders.models import OrderItem, OrderRequest, OrderStatus, Outcome
from orders.security.vault import VaultUnavailableError

log = olog.get(__name__)

MIX: Final[tuple[tuple[Outcome, int], ...]] = (
    (Outcome.COMPLETED, 6),
    (Outcome.OUT_OF_STOCK, 1),
    (Outcome.PAYMENT_DECLINED, 1),
    (Outcome.FULFILLMENT_FAILED, 1),
)
"""Expected outcomes, weighted."""
IN_STOCK_SKUS: Final = ("SKU-WIDGET", "SKU-GIZMO", "SKU-CABLE")
SOLD_OUT_SKU: Final = "SKU-SOLDOUT"

_RETRYABLE: Final = (VaultUnavailableError, RPCError, PermissionError, OSError, RuntimeError)
"""What placing or collecting may meet while a fault is on (the client retries)."""


@dataclass
class PlacedOrder:
    """One order of the stream and what became of it."""

    request: OrderRequest
    expected: Outcome
    placed_at: float = 0.0
    finished_at: float | None = None
    status: OrderStatus | None = None
    failure: str | None = None
    place_attempts: int = 0

    @property
    def latency(self) -> float | None:
        """Seconds from placement to result."""
        return None if self.finished_at is None else self.finished_at - self.placed_at

    @property
    def pii(self) -> tuple[str, str, str]:
        """The order's fake PII and payment reference (none may appear in any log)."""
        r = self.request
        return (r.customer_email, r.shipping_address, r.payment_reference)


def new_order(rng: random.Random, expected: Outcome, run_id: str, n: int) -> OrderRequest:
    """An order that must end with ``expected`` (the simulators' rules decide)."""
    tag = uuid.UUID(int=rng.getrandbits(128)).hex[:12]
    order_id = f"chaos-{run_id}-{n:05d}"
    address = f"{n} Chaos Street, {tag} Town"
    reference = f"tok-{tag}"
    items = [OrderItem(sku=rng.choice(IN_STOCK_SKUS), quantity=rng.randint(1, 3))]
    if expected is Outcome.OUT_OF_STOCK:
        items = [OrderItem(sku=SOLD_OUT_SKU, quantity=1)]
    elif expected is Outcome.PAYMENT_DECLINED:
        reference = f"decline-{tag}"
    elif expected is Outcome.FULFILLMENT_FAILED:
        address = f"{n} Nowhere Road, {tag} (undeliverable)"
    return OrderRequest(
        order_id=order_id,
        customer_id=f"chaos-{n % 17}",
        customer_email=f"c.{tag}@chaos.example.org",
        shipping_address=address,
        payment_reference=reference,
        items=tuple(items),
    )


@dataclass
class OrderStream:
    """Places orders at a steady pace with at most ``concurrency`` awaiting their result.

    Args:
        client: A client made by ``orders.temporal`` (acting as order-client).
        rng: Chooses outcomes and items.
        interval: Seconds between two placements.
        concurrency: Orders awaiting a result at once (placement waits beyond that).
        result_timeout: Seconds an order may take before it counts as not terminal.
    """

    client: Client
    rng: random.Random
    interval: float = 0.5
    concurrency: int = 8
    result_timeout: float = 300.0
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    orders: list[PlacedOrder] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def _pick(self) -> Outcome:
        outcomes, weights = zip(*MIX, strict=True)
        picked: Outcome = self.rng.choices(outcomes, weights)[0]
        return picked

    async def run(self, stop: asyncio.Event, *, at_least: int = 0, overtime: float = 0.0) -> None:
        """Place orders until ``stop`` is set (then return; :meth:`drain` waits for them).

        Args:
            stop: Set when the stream should end.
            at_least: Orders to place in all: after ``stop`` the stream goes on (without
                pausing between placements) until it has placed this many, so a slow
                machine, whose orders hold their slots longer, still checks as many orders.
            overtime: Seconds after ``stop`` the stream may go on to reach ``at_least``.
        """
        slots = asyncio.Semaphore(self.concurrency)
        stopped_at: float | None = None

        def more() -> bool:
            nonlocal stopped_at
            if not stop.is_set():
                return True
            stopped_at = stopped_at or time.monotonic()
            return len(self.orders) < at_least and time.monotonic() - stopped_at < overtime

        while more():
            await slots.acquire()
            if not more():
                slots.release()
                break
            expected = self._pick()
            order = PlacedOrder(
                new_order(self.rng, expected, self.run_id, len(self.orders)), expected
            )
            self.orders.append(order)
            handle = await self._place(order)
            task = asyncio.create_task(self._collect(order, handle, slots))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)

    async def drain(self) -> None:
        """Wait for every placed order's result (each bounded by ``result_timeout``)."""
        if self._tasks:
            await asyncio.gather(*self._tasks)

    async def _place(self, order: PlacedOrder) -> WorkflowHandle[Any, OrderStatus]:
        delay = 0.5
        order.placed_at = time.monotonic()
        while True:
            order.place_attempts += 1
            try:
                return await orders_client.place(self.client, order.request)
            except WorkflowAlreadyStartedError:
                # An earlier attempt started it; only its answer was lost.
                return self.client.get_workflow_handle(order.request.workflow_id)
            except _RETRYABLE as exc:
                log.warning("chaos.place.retry", error=type(exc).__name__, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _collect(
        self,
        order: PlacedOrder,
        handle: WorkflowHandle[Any, OrderStatus],
        slots: asyncio.Semaphore,
    ) -> None:
        deadline = order.placed_at + self.result_timeout
        try:
            while True:
                try:
                    remaining = max(1.0, deadline - time.monotonic())
                    order.status = await asyncio.wait_for(handle.result(), timeout=remaining)
                    order.finished_at = time.monotonic()
                    return
                except WorkflowFailureError as exc:
                    order.failure = f"workflow failed: {type(exc.cause).__name__}"
                    order.finished_at = time.monotonic()
                    return
                except TimeoutError:
                    order.failure = f"no result within {self.result_timeout:.0f}s"
                    return
                except _RETRYABLE as exc:
                    if time.monotonic() > deadline:
                        order.failure = f"result unavailable: {type(exc).__name__}"
                        return
                    log.warning("chaos.result.retry", error=type(exc).__name__)
                    await asyncio.sleep(1.0)
        finally:
            slots.release()
