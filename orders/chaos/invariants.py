"""What must hold after a chaos run, read from Postgres, Temporal histories and the logs.

Each check returns an :class:`Invariant` with the evidence in ``detail``; a run passes
only if every one holds. Order-scoped checks look at the run's own orders; inventory is
checked over the whole catalogue, since every order ever placed moves stock.
"""

from __future__ import annotations

import importlib.util
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from orders import logging as olog
from orders.chaos.workload import PlacedOrder
from orders.db.migrate import MIGRATIONS_DIR
from orders.db.schema import PAYMENT_CAPTURED, PAYMENT_REFUNDED, RESERVATION_HELD
from orders.models import Outcome

log = olog.get(__name__)

PAID: frozenset[Outcome] = frozenset({Outcome.COMPLETED, Outcome.FULFILLMENT_FAILED})
"""Outcomes whose order was charged (and, for a failed fulfilment, refunded)."""


@dataclass(frozen=True)
class Invariant:
    """One checked property."""

    name: str
    holds: bool
    detail: str


@dataclass(frozen=True)
class HistoryCounts:
    """Event counts over the run's workflow histories."""

    workflow_task_failed: int
    workflow_task_timed_out: int
    activity_retries: int
    histories: int


def seed_inventory() -> dict[str, int]:
    """Initial stock per SKU, from the migration that seeds the catalogue."""
    path = MIGRATIONS_DIR / "versions" / "0001_initial.py"
    spec = importlib.util.spec_from_file_location("chaos_seed_migration", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {str(row["sku"]): int(row["available"]) for row in module.SEED_INVENTORY}


def terminal(orders: Sequence[PlacedOrder]) -> Invariant:
    """Every order finished with a result (no failed, stuck or lost workflow)."""
    bad = [o.request.order_id for o in orders if o.status is None]
    reasons = Counter(o.failure or "no result" for o in orders if o.status is None)
    detail = f"{len(orders) - len(bad)}/{len(orders)} terminal"
    if bad:
        detail += f"; not: {dict(reasons)} e.g. {bad[:3]}"
    return Invariant("every order reached a terminal state", not bad and bool(orders), detail)


def outcomes(orders: Sequence[PlacedOrder]) -> Invariant:
    """Each finished order ended exactly as its kind must end."""
    wrong = [
        f"{o.request.order_id}: {o.status.outcome} != {o.expected}"
        for o in orders
        if o.status is not None and o.status.outcome is not o.expected
    ]
    return Invariant(
        "each outcome is the expected one",
        not wrong,
        f"{len(wrong)} unexpected" + (f": {wrong[:3]}" if wrong else ""),
    )


async def database(
    conn: asyncpg.Connection, orders: Sequence[PlacedOrder], seed: dict[str, int]
) -> list[Invariant]:
    """Payments, refunds, shipments and inventory of the run's orders, from Postgres."""
    ids = [o.request.order_id for o in orders]
    payments = defaultdict(list)
    for row in await conn.fetch(
        "SELECT order_id, status FROM orders.payments WHERE order_id = ANY($1::text[])", ids
    ):
        payments[row["order_id"]].append(row["status"])
    shipped = {
        r["order_id"]
        for r in await conn.fetch(
            "SELECT order_id FROM orders.shipments WHERE order_id = ANY($1::text[])", ids
        )
    }
    held: dict[str, int] = Counter()
    for row in await conn.fetch(
        "SELECT order_id, quantity FROM orders.reservations"
        " WHERE order_id = ANY($1::text[]) AND status = $2",
        ids,
        RESERVATION_HELD,
    ):
        held[row["order_id"]] += row["quantity"]

    payment_errors, refund_errors, stock_errors = [], [], []
    for o in orders:
        oid, pays = o.request.order_id, payments.get(o.request.order_id, [])
        paid = o.expected in PAID
        if len(pays) != (1 if paid else 0):
            payment_errors.append(f"{oid} ({o.expected}): {len(pays)} payments")
        refunded = pays == [PAYMENT_REFUNDED]
        if refunded != (o.expected is Outcome.FULFILLMENT_FAILED) or (
            o.expected is Outcome.COMPLETED and pays != [PAYMENT_CAPTURED]
        ):
            refund_errors.append(f"{oid} ({o.expected}): {pays}")
        completed = o.expected is Outcome.COMPLETED
        if (oid in shipped) != completed or (held[oid] > 0) != completed:
            stock_errors.append(f"{oid} ({o.expected}): shipped={oid in shipped} held={held[oid]}")

    paid_n = sum(o.expected in PAID for o in orders)
    checks = [
        Invariant(
            "exactly one payment per paid order, none for the others",
            not payment_errors,
            f"{paid_n} paid orders, {sum(len(p) for p in payments.values())} payments"
            + (f"; wrong: {payment_errors[:3]}" if payment_errors else ""),
        ),
        Invariant(
            "refunds match failures (refunded exactly when fulfilment failed)",
            not refund_errors,
            f"{sum(p == [PAYMENT_REFUNDED] for p in payments.values())} refunds, "
            f"{sum(o.expected is Outcome.FULFILLMENT_FAILED for o in orders)} failed fulfilments"
            + (f"; wrong: {refund_errors[:3]}" if refund_errors else ""),
        ),
        Invariant(
            "stock held exactly for shipped orders, released for the others",
            not stock_errors,
            f"{len(shipped)} shipped" + (f"; wrong: {stock_errors[:3]}" if stock_errors else ""),
        ),
    ]
    checks.append(await inventory(conn, seed))
    return checks


async def inventory(conn: asyncpg.Connection, seed: dict[str, int]) -> Invariant:
    """Per SKU: initial = available + reserved + shipped, with nothing unaccounted for.

    ``inventory.reserved`` counts every held unit, shipped ones included (shipping does
    not move stock again), so ``reserved = held for in-flight orders + held for shipped
    orders`` and ``initial = available + reserved``.
    """
    stock = {
        r["sku"]: (r["available"], r["reserved"])
        for r in await conn.fetch("SELECT sku, available, reserved FROM orders.inventory")
    }
    held = await conn.fetch(
        "SELECT r.sku, sum(r.quantity) FILTER (WHERE s.order_id IS NOT NULL) AS shipped,"
        " sum(r.quantity) FILTER (WHERE s.order_id IS NULL) AS in_flight"
        " FROM orders.reservations r LEFT JOIN orders.shipments s USING (order_id)"
        " WHERE r.status = $1 GROUP BY r.sku",
        RESERVATION_HELD,
    )
    by_sku = {r["sku"]: (r["shipped"] or 0, r["in_flight"] or 0) for r in held}
    errors, totals = [], Counter[str]()
    for sku, initial in seed.items():
        available, reserved = stock.get(sku, (0, 0))
        shipped, in_flight = by_sku.get(sku, (0, 0))
        totals.update(available=available, in_flight=in_flight, shipped=shipped)
        if initial != available + in_flight + shipped or reserved != in_flight + shipped:
            errors.append(
                f"{sku}: initial {initial} != available {available} + reserved "
                f"{in_flight} + shipped {shipped} (reserved column {reserved})"
            )
    return Invariant(
        "inventory conserved: initial = available + reserved + shipped",
        not errors,
        f"{sum(seed.values())} = {totals['available']} + {totals['in_flight']} + "
        f"{totals['shipped']}" + (f"; wrong: {errors[:3]}" if errors else ""),
    )


async def history_counts(client: Client, orders: Sequence[PlacedOrder]) -> HistoryCounts:
    """Workflow task failures/timeouts and activity retries over the run's histories."""
    failed = timed_out = retries = histories = 0
    for o in orders:
        handle = client.get_workflow_handle(o.request.workflow_id)
        try:
            history = await handle.fetch_history()
        except RPCError as exc:  # never started: the terminal check reports the order
            log.warning("chaos.history.missing", workflow_id=o.request.workflow_id, error=str(exc))
            continue
        histories += 1
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                failed += 1
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                timed_out += 1
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                retries += max(0, event.activity_task_started_event_attributes.attempt - 1)
    return HistoryCounts(failed, timed_out, retries, histories)


def workflow_tasks(counts: HistoryCounts) -> Invariant:
    """No workflow task failed: outages never reached the workflow's code or codec."""
    return Invariant(
        "0 workflow task failures",
        counts.workflow_task_failed == 0,
        f"{counts.workflow_task_failed} failed, {counts.workflow_task_timed_out} timed out "
        f"(a killed worker's tasks), {counts.activity_retries} activity retries, "
        f"{counts.histories} histories",
    )


async def still_running(client: Client, orders: Sequence[PlacedOrder]) -> list[str]:
    """Workflows of the run not closed as completed (for the report)."""
    open_ = []
    for o in orders:
        try:
            desc = await client.get_workflow_handle(o.request.workflow_id).describe()
        except RPCError as exc:
            open_.append(f"{o.request.order_id}: {exc}")
            continue
        if desc.status is not WorkflowExecutionStatus.COMPLETED:
            open_.append(f"{o.request.order_id}: {desc.status.name if desc.status else '?'}")
    return open_


def no_pii_in_logs(logs: Iterable[Path], orders: Sequence[PlacedOrder]) -> Invariant:
    """No order's e-mail, address or payment reference in any log file."""
    values = [v for o in orders for v in o.pii]
    leaks, scanned = [], 0
    for path in logs:
        text = path.read_text(errors="replace")
        scanned += 1
        found = sum(v in text for v in values)
        if found:
            leaks.append(f"{path.name}: {found}")
    return Invariant(
        "no PII in logs",
        not leaks and scanned > 0,
        f"{len(values)} values x {scanned} log files" + (f"; leaked: {leaks}" if leaks else ""),
    )


def leftover_roles(roles: Any) -> Invariant:
    """After shutdown, no dynamic Postgres role is left (every lease revoked)."""
    ok = roles == []
    return Invariant(
        "0 leftover dynamic roles after shutdown",
        ok,
        f"{len(roles) if isinstance(roles, list) else 'unknown'} left",
    )
