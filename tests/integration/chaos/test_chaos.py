"""The short chaos run inside ``make test``: every fault kind while orders stream.

Runs last (``tests/integration/conftest.py`` orders it so): it stops OpenBao, restarts
Postgres and kills workers of the session stack, then checks that the stack is whole
again, so the session tear-down (no leftover dynamic role) still holds.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time

import httpx
import pytest
from rich.console import Console
from temporalio.client import Client

from orders.chaos.faults import FaultKind
from orders.chaos.run import SHORT, print_report, run
from orders.contract import identities
from orders.devstack.state import StackInfo, StackPaths, Status
from orders.models import Outcome
from orders.security.trust import httpx_verify
from tests.support import stack as support
from tests.support.stack import orders_cli

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

OUTAGE_WARNINGS = {
    "vault.renew.retry",
    "vault.unavailable",
    "db.unavailable",
    "db.disconnected",
    "db.credential.refused",
}


def _warnings(paths: StackPaths, since: float) -> list[dict[str, object]]:
    """Structured warning lines the workers wrote after ``since`` (wall clock)."""
    found = []
    for ident in identities.workers():
        log = paths.log_file(ident.name)
        for line in log.read_text(errors="replace").splitlines():
            if '"warning"' not in line or not line.startswith("{"):
                continue
            entry = json.loads(line)
            if entry.get("event") in OUTAGE_WARNINGS and log.stat().st_mtime >= since:
                found.append(entry)
    return found


async def test_orders_survive_every_fault(
    stack: StackInfo, stack_paths: StackPaths, client: Client
) -> None:
    before = Status.load(stack_paths)
    assert before is not None
    began = time.time()
    report = await run(stack, stack_paths, client, SHORT, seed=8)
    print_report(report, Console(width=160))
    assert report.ok, [f"{i.name}: {i.detail}" for i in report.failed()]
    assert {f.kind for f in report.faults} == set(FaultKind)
    assert len(report.orders) >= SHORT.at_least

    # Outages were seen by the workers as retries, each a structured warning with fields.
    warnings = _warnings(stack_paths, began)
    events = {w["event"] for w in warnings}
    assert events & {"vault.renew.retry", "vault.unavailable"}, events
    assert events & {"db.unavailable", "db.disconnected", "db.credential.refused"}, events
    assert all("identity" in w and "error" in w and "timestamp" in w for w in warnings)

    # A crashed OpenBao is restarted and unsealed by the supervisor, no one intervening.
    bao = Status.load(stack_paths)
    assert bao is not None
    os.kill(bao.processes["openbao"], signal.SIGKILL)

    async def unsealed() -> bool:
        status = Status.load(stack_paths)
        assert status is not None
        if status.restarts.get("openbao", 0) <= bao.restarts.get("openbao", 0):
            return False
        async with httpx.AsyncClient(timeout=2, verify=httpx_verify(stack.verify)) as http:
            with contextlib.suppress(httpx.HTTPError):
                return (await http.get(f"{stack.vault_addr}/v1/sys/health")).status_code == 200
        return False

    await support.eventually(unsealed, timeout=60)

    # The supervisor restarted every killed worker, counted it, and the stack is whole.
    killed = {f.target for f in report.faults if f.kind is FaultKind.WORKER_KILLED}

    async def healthy() -> bool:
        status = Status.load(stack_paths)
        assert status is not None
        return status.state == "ready" and all(
            status.restarts.get(n, 0) > before.restarts.get(n, 0)
            and stack_paths.ready_marker(n).exists()
            for n in killed
        )

    await support.eventually(healthy, timeout=60)
    shown = orders_cli(stack_paths, "dev", "status")
    assert shown.returncode == 0, shown.stderr
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in shown.stdout.splitlines()]
    restarts = {r[0]: r[2] for r in rows if len(r) == 3 and r[2].isdigit()}  # process table
    for name in killed:
        assert int(restarts[name]) >= 1, shown.stdout
    refused = orders_cli(stack_paths, "dev", "server", "restart", "temporal")
    # Only OpenBao and Postgres: the CLI refuses anything else as bad input, in one line.
    assert refused.returncode == 2, refused.stderr
    assert "temporal" in refused.stderr
    assert "postgres" in refused.stderr
    assert "Traceback" not in refused.stderr
    after = await support.complete(client, support.make_order("after-chaos"))
    assert after.outcome is Outcome.COMPLETED
