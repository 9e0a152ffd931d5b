"""One chaos run: a stream of orders, a schedule of faults, then the invariants.

:data:`FULL` is ``make chaos`` (its own stack, credentials with TTL 30 s / max 2 min, a
30 s OpenBao outage, ≈ 4 minutes); :data:`SHORT` is the version inside ``make test``
(the session stack, an 8 s outage, every kind of fault, well under a minute). Both go
through :func:`run`, so the suite inside ``make test`` exercises the same code.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
from rich.console import Console
from rich.table import Table
from temporalio.client import Client

from orders import logging as olog
from orders.chaos import invariants
from orders.chaos.faults import FaultKind, FaultRecord, Injector
from orders.chaos.invariants import HistoryCounts, Invariant
from orders.chaos.workload import OrderStream, PlacedOrder
from orders.contract import identities
from orders.devstack.state import StackInfo, StackPaths

log = olog.get(__name__)


@dataclass(frozen=True)
class Step:
    """A fault ``at`` seconds into the stream (``seconds``: how long an outage lasts).

    ``target`` names the worker a kill hits (default: a random identity's).
    """

    at: float
    kind: FaultKind
    seconds: float = 0.0
    target: str | None = None


@dataclass(frozen=True)
class Plan:
    """Workload and fault schedule of a run."""

    name: str
    steps: tuple[Step, ...]
    stream_seconds: float
    interval: float
    concurrency: int
    result_timeout: float = 300.0
    at_least: int = 0
    """Orders the run places in all: the stream goes on past ``stream_seconds`` (by at most
    as long again, all faults over) until it has placed this many."""

    def __post_init__(self) -> None:
        if {s.kind for s in self.steps} != set(FaultKind):
            raise ValueError("a chaos plan injects every kind of fault")
        if any(s.at + s.seconds > self.stream_seconds for s in self.steps):
            raise ValueError("every fault must end while orders still stream")


_KILL, _VAULT = FaultKind.WORKER_KILLED, FaultKind.VAULT_OUTAGE
_PG, _REVOKE = FaultKind.POSTGRES_RESTART, FaultKind.LEASE_REVOKED
_OUTAGES = (_VAULT, _PG)

_WORKFLOW = identities.ORDER_WORKFLOW.name

# The workflow worker is killed just before the OpenBao outage on purpose: restarted, it
# resumes histories whose data keys it has never unwrapped, and must wait for Vault (its
# workflow tasks may time out and be retried) rather than fail them.
FULL = Plan(
    name="full",
    steps=(
        *(Step(float(t), _KILL) for t in range(8, 64, 8)),
        Step(66.0, _REVOKE),
        Step(84.0, _KILL, target=_WORKFLOW),
        Step(90.0, _VAULT, 30.0),
        Step(135.0, _PG, 5.0),
        Step(150.0, _REVOKE),
        *(Step(float(t), _KILL) for t in range(160, 200, 8)),
    ),
    stream_seconds=210.0,
    interval=0.5,
    concurrency=8,
)
SHORT = Plan(
    name="short",
    steps=(
        Step(1.0, _REVOKE),
        Step(1.5, _KILL, target=_WORKFLOW),
        Step(4.0, _VAULT, 8.0),
        Step(13.0, _KILL),
        Step(16.0, _PG, 3.0),
        Step(19.0, _KILL),
        Step(22.0, _KILL),
    ),
    stream_seconds=24.0,
    interval=0.4,
    concurrency=10,
    result_timeout=120.0,
    at_least=20,
)


@dataclass
class Report:
    """What a run did and found."""

    plan: Plan
    faults: list[FaultRecord]
    orders: list[PlacedOrder]
    history: HistoryCounts
    invariants: list[Invariant]
    rotations: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every invariant holds."""
        return all(i.holds for i in self.invariants)

    def failed(self) -> list[Invariant]:
        """The invariants that do not hold."""
        return [i for i in self.invariants if not i.holds]


def count_in_logs(paths: StackPaths, marker: str) -> int:
    """How many log lines (all processes) contain ``marker``."""
    total = 0
    for path in paths.logs.glob("*.log"):
        with path.open(errors="replace") as fh:
            total += sum(marker in line for line in fh)
    return total


async def _inject(injector: Injector, plan: Plan, started: float) -> None:
    actions: dict[FaultKind, Callable[[Step], Awaitable[object]]] = {
        FaultKind.WORKER_KILLED: lambda s: injector.kill_worker(s.target),
        FaultKind.VAULT_OUTAGE: lambda s: injector.vault_outage(s.seconds),
        FaultKind.POSTGRES_RESTART: lambda s: injector.restart_postgres(s.seconds),
        FaultKind.LEASE_REVOKED: lambda s: injector.revoke_lease(),
    }
    for step in sorted(plan.steps, key=lambda s: s.at):
        await asyncio.sleep(max(0.0, started + step.at - time.monotonic()))
        await actions[step.kind](step)


async def run(
    stack: StackInfo,
    paths: StackPaths,
    client: Client,
    plan: Plan,
    *,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Stream orders, inject ``plan``'s faults, drain, then check every invariant.

    Args:
        stack: The running stack.
        paths: Its state directory (the supervisor's control socket, logs).
        client: An order-client Temporal client.
        plan: Workload and faults.
        seed: Seeds victims and order mix (a failing run can be repeated).
        progress: Called with one line per phase.
    """
    say = progress or (lambda _: None)
    rng = random.Random(seed)  # noqa: S311 - picks victims and order kinds, not secrets
    injector = Injector(stack, paths, rng)
    stream = OrderStream(
        client, rng, plan.interval, plan.concurrency, result_timeout=plan.result_timeout
    )
    rotations_before = count_in_logs(paths, '"db.credential.rotated"')
    started = injector.started = time.monotonic()
    stop = asyncio.Event()
    say(f"chaos ({plan.name}): streaming orders for {plan.stream_seconds:.0f}s with faults")
    placing = asyncio.create_task(
        stream.run(stop, at_least=plan.at_least, overtime=plan.stream_seconds)
    )
    try:
        await _inject(injector, plan, started)
        await asyncio.sleep(max(0.0, started + plan.stream_seconds - time.monotonic()))
    finally:
        stop.set()
        await placing
    say(f"{len(stream.orders)} orders placed; waiting for every result")
    await stream.drain()
    await asyncio.sleep(1.0)  # the last log lines reach their files

    say("checking invariants")
    orders = stream.orders
    history = await invariants.history_counts(client, orders)
    conn = await asyncpg.connect(stack.postgres_admin_dsn, timeout=10)
    try:
        db_checks = await invariants.database(conn, orders, invariants.seed_inventory())
    finally:
        await conn.close()
    checks = [
        invariants.terminal(orders),
        invariants.outcomes(orders),
        *db_checks,
        invariants.workflow_tasks(history),
        invariants.no_pii_in_logs(sorted(paths.logs.glob("*.log")), orders),
    ]
    report = Report(
        plan=plan,
        faults=injector.records,
        orders=orders,
        history=history,
        invariants=checks,
        rotations=count_in_logs(paths, '"db.credential.rotated"') - rotations_before,
        seconds=time.monotonic() - started,
    )
    if not report.ok:
        report.notes.extend(await invariants.still_running(client, orders))
    return report


def tables(report: Report) -> list[Table]:
    """Faults injected, orders by outcome, invariants: the run's evidence."""
    faults = Table(title=f"chaos ({report.plan.name}): faults injected")
    faults.add_column("fault")
    faults.add_column("count", justify="right")
    faults.add_column("targets")
    faults.add_column("seconds down", justify="right")
    by_kind: dict[FaultKind, list[FaultRecord]] = {k: [] for k in FaultKind}
    for record in report.faults:
        by_kind[record.kind].append(record)
    for kind, records in by_kind.items():
        targets = Counter(r.target for r in records)
        faults.add_row(
            kind.value,
            str(len(records)),
            ", ".join(f"{t} x{n}" if n > 1 else t for t, n in sorted(targets.items())),
            f"{sum(r.seconds for r in records):.1f}" if kind in _OUTAGES else "",
        )
    faults.add_row("credential rotations (TTL expiry)", str(report.rotations), "workers' logs", "")

    outcomes = Table(title=f"orders ({len(report.orders)} in {report.seconds:.0f}s)")
    outcomes.add_column("expected outcome")
    outcomes.add_column("placed", justify="right")
    outcomes.add_column("ended so", justify="right")
    outcomes.add_column("p50 s", justify="right")
    outcomes.add_column("max s", justify="right")
    groups: dict[str, list[PlacedOrder]] = {}
    for order in report.orders:
        groups.setdefault(order.expected.value, []).append(order)
    for name, group in sorted(groups.items()):
        done = [o for o in group if o.status is not None and o.status.outcome == o.expected]
        lat = [o.latency for o in group if o.latency is not None]
        outcomes.add_row(
            name,
            str(len(group)),
            str(len(done)),
            f"{statistics.median(lat):.1f}" if lat else "-",
            f"{max(lat):.1f}" if lat else "-",
        )

    checks = Table(title="invariants")
    checks.add_column("invariant")
    checks.add_column("holds")
    checks.add_column("evidence", overflow="fold")
    for inv in report.invariants:
        checks.add_row(inv.name, "[green]yes[/green]" if inv.holds else "[red]NO[/red]", inv.detail)
    return [faults, outcomes, checks]


def print_report(report: Report, console: Console) -> None:
    """Print the tables (and what was still open, if anything failed)."""
    for table in tables(report):
        console.print(table)
    for note in report.notes:
        console.print(f"[yellow]not completed: {note}[/yellow]")
