"""Load generation and the counters a benchmark run reads before and after each phase."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import asyncpg
import psutil


@dataclass(frozen=True)
class Counters:
    """Cumulative counters at one instant."""

    vault_requests: int
    vault_transit_requests: int
    pg_sessions: int
    cpu_seconds: float
    cpu_by_process: dict[str, float] = field(default_factory=dict)
    """CPU seconds by process (:func:`process_label`), to see where an order's CPU goes."""


async def read_counters(audit_log: Path, admin_dsn: str, pids: Sequence[int]) -> Counters:
    """Vault requests (audit log), Postgres sessions ever opened, CPU of ``pids``."""
    vault = transit = 0
    if audit_log.exists():
        with audit_log.open("rb") as fh:
            for line in fh:
                # One "request" and one "response" entry per call; count requests.
                if b'"type":"request"' not in line:
                    continue
                vault += 1
                path = json.loads(line).get("request", {}).get("path", "")
                transit += path.startswith("transit/")
    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        sessions = int(await conn.fetchval("SELECT sum(sessions) FROM pg_stat_database"))
    finally:
        await conn.close()
    cpu = 0.0
    by_process: dict[str, float] = {}
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            times = proc.cpu_times()
            used = times.user + times.system + times.children_user + times.children_system
            label = process_label(proc.cmdline())
        except psutil.Error:
            continue
        cpu += used
        by_process[label] = by_process.get(label, 0.0) + used
    return Counters(vault, transit, sessions, cpu, by_process)


def process_label(cmdline: Sequence[str]) -> str:
    """A short name for a process: what follows ``-m`` (``workers order-validate``).

    Else the program's name (``temporal``, ``bao``, ``postgres``, ``nginx``).
    """
    args = list(cmdline)
    if "-m" in args:
        return " ".join(args[args.index("-m") + 1 :][:2])
    # Postgres and nginx retitle their children ("postgres: v-order-… idle"): one row each.
    return Path(args[0].split(":")[0].split()[0]).name if args and args[0] else "?"


@dataclass(frozen=True)
class PhaseResult:
    """One configuration's figures."""

    name: str
    orders: int
    seconds: float
    throughput: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    vault_requests_per_order: float
    vault_transit_requests_per_order: float
    pg_sessions_per_order: float
    cpu_seconds_per_order: float
    failed: int
    front_cpu_seconds_per_order: float = 0.0
    """CPU of the authorization front alone (hardened only; plain has none)."""
    cpu_ms_per_order_by_process: dict[str, float] = field(default_factory=dict)
    """Where the CPU went: milliseconds per order by process (:func:`process_label`)."""

    def as_dict(self) -> dict[str, object]:
        """For the JSON report."""
        return asdict(self)


def _pct(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    idx = min(len(sorted_ms) - 1, round(q * (len(sorted_ms) - 1)))
    return sorted_ms[idx]


async def run_load(
    place_and_wait: Callable[[int], Awaitable[bool]],
    orders: int,
    concurrency: int,
    progress: Callable[[], None] | None = None,
) -> tuple[list[float], int, float]:
    """Run ``orders`` calls with at most ``concurrency`` in flight.

    Returns:
        Latencies in ms (successful calls), failures, wall seconds.
    """
    sem = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    failed = 0

    async def one(i: int) -> None:
        nonlocal failed
        async with sem:
            t0 = time.perf_counter()
            ok = await place_and_wait(i)
            if ok:
                latencies.append((time.perf_counter() - t0) * 1000)
            else:
                failed += 1
            if progress:
                progress()

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(orders)))
    return latencies, failed, time.perf_counter() - start


def summarise(
    name: str,
    latencies: list[float],
    failed: int,
    seconds: float,
    before: Counters,
    after: Counters,
) -> PhaseResult:
    """Figures of one phase from its latencies and the counter deltas."""
    n = len(latencies) + failed
    ordered = sorted(latencies)
    return PhaseResult(
        name=name,
        orders=n,
        seconds=round(seconds, 3),
        throughput=round(len(latencies) / seconds, 3) if seconds else 0.0,
        p50_ms=round(statistics.median(ordered), 1) if ordered else float("nan"),
        p95_ms=round(_pct(ordered, 0.95), 1),
        p99_ms=round(_pct(ordered, 0.99), 1),
        vault_requests_per_order=round((after.vault_requests - before.vault_requests) / n, 4),
        vault_transit_requests_per_order=round(
            (after.vault_transit_requests - before.vault_transit_requests) / n, 4
        ),
        pg_sessions_per_order=round((after.pg_sessions - before.pg_sessions) / n, 4),
        cpu_seconds_per_order=round((after.cpu_seconds - before.cpu_seconds) / n, 5),
        failed=failed,
        cpu_ms_per_order_by_process={
            label: round((used - before.cpu_by_process.get(label, 0.0)) * 1000 / n, 2)
            for label, used in sorted(after.cpu_by_process.items())
        },
    )


def write_json(path: Path, payload: dict[str, object]) -> None:
    """Write the report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2))
