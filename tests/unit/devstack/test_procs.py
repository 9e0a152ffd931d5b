"""Supervised children: restarted with growing backoff while they crash young, reset after."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from orders.devstack.procs import MAX_BACKOFF_SECONDS, STABLE_SECONDS, Proc


def _dying(tmp_path: Path) -> Proc:
    proc = Proc(name="dies", argv=[sys.executable, "-c", "pass"], log_path=tmp_path / "p.log")
    proc.start()
    assert proc.popen is not None
    proc.popen.wait(30)
    return proc


def _restart_when_due(proc: Proc) -> None:
    assert not proc.maybe_restart()  # noticed: the backoff starts now
    proc.next_start = time.monotonic()  # the test does not wait the backoff out
    assert proc.maybe_restart()
    assert proc.popen is not None
    proc.popen.wait(30)


def test_crash_loop_doubles_backoff_up_to_the_cap(tmp_path: Path) -> None:
    proc = _dying(tmp_path)
    seen = []
    for _ in range(7):
        seen.append(proc.backoff)
        _restart_when_due(proc)
    assert seen == [1.0, 2.0, 4.0, 8.0, 16.0, MAX_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS]
    assert proc.restarts == 7


def test_a_child_that_ran_long_enough_restarts_at_once(tmp_path: Path) -> None:
    proc = _dying(tmp_path)
    proc.backoff = MAX_BACKOFF_SECONDS
    proc.started_at -= STABLE_SECONDS  # it had been up for a while before it died
    assert not proc.maybe_restart()
    assert proc.backoff == 1.0
    assert proc.next_start - time.monotonic() <= 1.0


def test_a_stopped_child_is_not_restarted(tmp_path: Path) -> None:
    proc = Proc(
        name="sleeps",
        argv=[sys.executable, "-c", "import time; time.sleep(60)"],
        log_path=tmp_path / "s.log",
    )
    proc.start()
    proc.stop(10)
    assert not proc.alive()
    assert not proc.maybe_restart()
    assert proc.restarts == 0
