"""Check results: one line each, a summary, and the JSON report."""

from __future__ import annotations

import time

from pydantic import BaseModel


class CheckResult(BaseModel):
    """The outcome of one check."""

    name: str
    passed: bool
    reason: str
    """One short line: what was tried and what held (or the first problems)."""
    seconds: float
    problems: list[str] = []
    """Every deviation from the contract (empty when passed)."""


class Report(BaseModel):
    """Every check's result against one target."""

    target: str
    checks: list[CheckResult]
    seconds: float

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(c.passed for c in self.checks)

    def lines(self) -> list[str]:
        """The text form: one line per check, then the summary."""
        width = max((len(c.name) for c in self.checks), default=0)
        out = [
            f"{c.name:<{width}}  {'PASS' if c.passed else 'FAIL'}  {c.reason} ({c.seconds:.1f}s)"
            for c in self.checks
        ]
        failed = [c.name for c in self.checks if not c.passed]
        summary = f"{len(self.checks) - len(failed)}/{len(self.checks)} checks passed"
        out.append(
            f"{summary} in {self.seconds:.1f}s"
            + (f"; FAILED: {', '.join(failed)}" if failed else "")
        )
        return out


def summarize(problems: list[str], ok: str, *, limit: int = 3) -> tuple[bool, str]:
    """``(passed, reason)`` from a check's problems: the first few, or ``ok``."""
    if not problems:
        return True, ok
    shown = "; ".join(problems[:limit])
    more = f" (+{len(problems) - limit} more)" if len(problems) > limit else ""
    return False, f"{len(problems)} problem(s): {shown}{more}"


def result(name: str, started: float, problems: list[str], ok: str) -> CheckResult:
    """The result of check ``name`` begun at ``started`` (``time.monotonic()``)."""
    passed, reason = summarize(problems, ok)
    return CheckResult(
        name=name, passed=passed, reason=reason,
        seconds=time.monotonic() - started, problems=problems,
    )  # fmt: skip
