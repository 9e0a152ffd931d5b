"""Container probes without a listening port: ``python -m workers.probe live|ready``.

A worker exposes no port (its NetworkPolicy admits no ingress), so Kubernetes exec probes
and Docker's ``HEALTHCHECK`` ask this module instead. It reads two files the worker keeps
under ``/tmp`` (an emptyDir; the root filesystem is read-only):

* the **heartbeat** file, touched by a task on the worker's event loop every
  ``ORDERS_HEARTBEAT_SECONDS``. A fresh heartbeat means the loop is alive: a worker stuck
  in a blocking call or a deadlock stops beating, and liveness fails after
  ``ORDERS_HEARTBEAT_MISSED`` missed beats, so the kubelet restarts it;
* the **ready** file, written once the Temporal worker has started polling its task queue
  and removed while it drains. Readiness needs both: polling, and a live loop.

The module imports nothing heavy (no Temporal, no SQLAlchemy): a probe runs every few
seconds in the worker's CPU budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from orders.settings import ProbeSettings


class Check(enum.StrEnum):
    """What a probe asks."""

    LIVE = "live"
    READY = "ready"


@dataclass(frozen=True)
class Verdict:
    """A probe's answer: healthy or not, and why (printed for ``kubectl describe``)."""

    ok: bool
    reason: str


def beat(path: Path) -> None:
    """Record one heartbeat: set the file's modification time to now (creating it)."""
    path.touch(exist_ok=True)
    os.utime(path)


async def heartbeat(path: Path, interval: float, stop: asyncio.Event) -> None:
    """Beat every ``interval`` seconds until ``stop`` is set, then remove the file.

    It runs as a task on the worker's own event loop on purpose: if that loop is blocked,
    the beats stop, which is exactly what liveness must notice.
    """
    try:
        while not stop.is_set():
            beat(path)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
    finally:
        path.unlink(missing_ok=True)


def check(settings: ProbeSettings, what: Check, now: float | None = None) -> Verdict:
    """Judge the worker from its files.

    Args:
        settings: Where the files are and how often the worker beats.
        what: Liveness or readiness.
        now: Current wall-clock time (``time.time()``), for tests.

    Returns:
        The verdict; unconfigured files count as failure, so a misconfigured probe cannot
        report a worker healthy.
    """
    now = time.time() if now is None else now
    if settings.heartbeat_file is None:
        return Verdict(False, "ORDERS_HEARTBEAT_FILE is not set")
    try:
        age = now - settings.heartbeat_file.stat().st_mtime
    except FileNotFoundError:
        return Verdict(False, f"no heartbeat yet at {settings.heartbeat_file}")
    limit = settings.heartbeat_seconds * settings.heartbeat_missed
    if age > limit:
        return Verdict(False, f"heartbeat is {age:.1f}s old (limit {limit:.1f}s): loop stalled")
    if what is Check.LIVE:
        return Verdict(True, f"heartbeat {age:.1f}s old")
    if settings.ready_file is None:
        return Verdict(False, "ORDERS_READY_FILE is not set")
    if not settings.ready_file.exists():
        return Verdict(False, "not polling its task queue (starting or draining)")
    return Verdict(True, f"polling; heartbeat {age:.1f}s old")


def main(argv: list[str]) -> int:
    """Entry point: exit 0 when healthy, 1 when not, 2 on usage errors."""
    choices = [c.value for c in Check]
    if len(argv) != 1 or argv[0] not in choices:
        print(f"usage: python -m workers.probe {{{'|'.join(choices)}}}", file=sys.stderr)
        return 2
    verdict = check(ProbeSettings(), Check(argv[0]))
    print(verdict.reason, file=sys.stdout if verdict.ok else sys.stderr)
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
