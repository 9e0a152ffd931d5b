"""``make bench``'s own logic: an empty Temporal store per run, the ratio of each round."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.measure import PhaseResult
from bench.run import fresh_temporal_store, round_ratios
from orders.devstack.state import StackPaths


def _store(paths: StackPaths) -> list[Path]:
    paths.temporal_db.parent.mkdir(parents=True, exist_ok=True)
    files = [paths.temporal_db.with_name(paths.temporal_db.name + s) for s in ("", "-wal", "-shm")]
    for i, path in enumerate(files):
        path.write_bytes(b"x" * (100 + i))
    return files


def test_a_stopped_stack_starts_the_run_with_an_empty_store(tmp_path: Path) -> None:
    paths = StackPaths(tmp_path)
    files = _store(paths)
    assert fresh_temporal_store(paths) == 100 + 101 + 102
    assert not any(path.exists() for path in files)
    assert fresh_temporal_store(paths) == 0  # nothing left: nothing to do


def test_a_running_stack_keeps_its_store(tmp_path: Path) -> None:
    paths = StackPaths(tmp_path)
    files = _store(paths)
    # A process whose command line is a supervisor's, named by the stack's pid file.
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "orders.devstack.supervisor"]
    )
    try:
        paths.supervisor_pid.parent.mkdir(parents=True, exist_ok=True)
        paths.supervisor_pid.write_text(str(sleeper.pid))
        assert fresh_temporal_store(paths) == 0
        assert all(path.exists() for path in files)
    finally:
        sleeper.kill()
        sleeper.wait()


def _round(name: str, throughput: float) -> PhaseResult:
    return PhaseResult(name, 100, 100 / throughput, throughput, 1, 1, 1, 0, 0, 0, 0.1, 0)


def test_each_round_has_its_own_ratio_in_the_order_they_ran() -> None:
    plain = [_round("plain", 16.0), _round("plain", 15.0)]
    hard = [_round("hardened", 12.0), _round("hardened", 12.3)]
    assert round_ratios(plain, hard) == [0.75, 0.82]
