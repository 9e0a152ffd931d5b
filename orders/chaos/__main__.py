"""``make chaos``: its own stack, the full fault schedule, the invariants, then shutdown.

The stack lives under ``.orders/chaos`` (fresh every run) with credentials that expire
fast (TTL 30 s, max 2 min, for database leases and worker tokens alike). After the run the
stack is stopped and the supervisor's count of dynamic Postgres roles left behind must be
0. Exit code 0 only if every invariant holds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys

from rich.console import Console

from orders import logging as olog
from orders.chaos import invariants
from orders.chaos.run import FULL, SHORT, Report, print_report, run
from orders.contract import identities
from orders.devstack import actas, control
from orders.devstack.state import PROJECT_ROOT, StackInfo, StackPaths

CHAOS_HOME = PROJECT_ROOT / ".orders" / "chaos"
CHAOS_TTLS = control.UpOptions(
    db_ttl=30, db_max_ttl=120, token_ttl=30, token_max_ttl=120, min_token_seconds=30, cert_ttl=120
)


async def _run(paths: StackPaths, plan_name: str, seed: int | None, console: Console) -> Report:
    stack = StackInfo.load(paths)
    plan = FULL if plan_name == "full" else SHORT
    async with actas.temporal_client(stack, paths) as client:
        return await run(stack, paths, client, plan, seed=seed, progress=console.print)


def main() -> int:
    """Start the chaos stack, run, stop it, print the tables; 0 if every invariant holds."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--plan", choices=("full", "short"), default="full")
    ap.add_argument("--seed", type=int, default=None, help="repeat a run's choices")
    args = ap.parse_args()
    console = Console(width=None if sys.stdout.isatty() else 160)
    olog.configure(identities.ORDER_CLIENT.name, "error")
    paths = StackPaths(CHAOS_HOME)
    os.environ["ORDERS_HOME"] = str(CHAOS_HOME)
    if control.supervisor_process(paths) is not None:
        console.print(f"[red]a chaos stack is already running under {CHAOS_HOME}[/red]")
        return 2
    shutil.rmtree(CHAOS_HOME, ignore_errors=True)
    console.print("starting the chaos stack (TTL 30 s, max 2 min)")
    report: Report | None = None
    try:
        control.up(paths, CHAOS_TTLS)
        report = asyncio.run(_run(paths, args.plan, args.seed, console))
    finally:
        console.print("stopping the stack (drain, revoke every lease)")
        status = control.down(paths)
    roles = status.report.get("leftover_dynamic_roles") if status else None
    report.invariants.append(invariants.leftover_roles(roles))
    print_report(report, console)
    if not report.ok:
        console.print(f"[red]{len(report.failed())} invariant(s) failed; logs: {paths.logs}[/red]")
        return 1
    console.print("[green]every invariant holds[/green]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
