"""Run the checks against a target and build the report."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Final

from orders.verify import flows, pg, temporal_matrix, vault_checks
from orders.verify.report import CheckResult, Report
from orders.verify.target import Target

CheckFn = Callable[[Target], Awaitable[CheckResult]]
STANDALONE: Final[dict[str, CheckFn]] = {
    "postgres-privileges": pg.check,
    "vault-isolation": vault_checks.check,
    "temporal-authorization": temporal_matrix.check,
}
"""Checks that stand alone (each acts as every identity in turn)."""
FLOWS: Final = ("history-pii", "codec-server", "approvals")
"""Checks that run orders through the deployment (one client, run together)."""
CHECKS: Final = (*STANDALONE, *FLOWS)
"""Every check, in report order."""


def _error(exc: BaseException) -> str:
    first = (str(exc).splitlines() or [""])[0]
    return f"error: {type(exc).__name__}: {first}"[:300]


async def _guarded(name: str, run: Awaitable[CheckResult]) -> CheckResult:
    """A check that raised is a failed check naming the error, not a crash of the run."""
    started = time.monotonic()
    try:
        return await run
    except Exception as exc:  # a check that raised fails, in one line
        return CheckResult(
            name=name, passed=False, reason=_error(exc), seconds=time.monotonic() - started
        )


async def _flows(target: Target, selected: set[str]) -> list[CheckResult]:
    started = time.monotonic()
    try:
        return await flows.run(target, selected)
    except Exception as exc:  # every flow check fails with the cause
        return [
            CheckResult(
                name=n, passed=False, reason=_error(exc), seconds=time.monotonic() - started
            )
            for n in FLOWS
            if n in selected
        ]


async def verify(target: Target, only: tuple[str, ...] = ()) -> Report:
    """Run the selected checks (all by default) concurrently; results in report order."""
    started = time.monotonic()
    selected = set(only or CHECKS)
    jobs = [_guarded(n, fn(target)) for n, fn in STANDALONE.items() if n in selected]
    flow_job = _flows(target, selected) if selected & set(FLOWS) else None
    standalone, flowed = await asyncio.gather(
        asyncio.gather(*jobs), flow_job or asyncio.sleep(0, result=[])
    )
    by_name = {r.name: r for r in [*standalone, *flowed]}
    checks = [by_name[n] for n in CHECKS if n in by_name]
    return Report(target=target.name, checks=checks, seconds=time.monotonic() - started)
