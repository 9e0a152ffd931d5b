"""workers.probe: liveness = the event loop beats; readiness = polling and beating."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orders.settings import ProbeSettings
from workers import probe
from workers.probe import Check


def settings(tmp_path: Path, **kw: object) -> ProbeSettings:
    values: dict[str, object] = {
        "heartbeat_file": tmp_path / "hb",
        "ready_file": tmp_path / "ready",
        "heartbeat_seconds": 10,
        "heartbeat_missed": 3,
    }
    return ProbeSettings.model_validate(values | kw)


def test_fresh_heartbeat_is_alive_but_not_ready_until_polling(tmp_path: Path) -> None:
    s = settings(tmp_path)
    probe.beat(s.heartbeat_file)  # type: ignore[arg-type]
    assert probe.check(s, Check.LIVE).ok
    verdict = probe.check(s, Check.READY)
    assert not verdict.ok
    assert "not polling" in verdict.reason
    (tmp_path / "ready").write_text("ready\n")
    assert probe.check(s, Check.READY).ok


def test_stale_heartbeat_fails_both(tmp_path: Path) -> None:
    s = settings(tmp_path)
    probe.beat(s.heartbeat_file)  # type: ignore[arg-type]
    (tmp_path / "ready").write_text("ready\n")
    now = time.time()
    assert probe.check(s, Check.LIVE, now=now + 29).ok
    for what in Check:
        verdict = probe.check(s, what, now=now + 31)
        assert not verdict.ok
        assert "stalled" in verdict.reason


def test_missing_or_unconfigured_files_are_unhealthy(tmp_path: Path) -> None:
    assert not probe.check(settings(tmp_path), Check.LIVE).ok
    assert not probe.check(settings(tmp_path, heartbeat_file=None), Check.LIVE).ok
    s = settings(tmp_path, ready_file=None)
    probe.beat(s.heartbeat_file)  # type: ignore[arg-type]
    assert not probe.check(s, Check.READY).ok


async def test_heartbeat_task_beats_on_the_loop_and_cleans_up(tmp_path: Path) -> None:
    hb = tmp_path / "hb"
    stop = asyncio.Event()
    task = asyncio.create_task(probe.heartbeat(hb, 0.05, stop))
    await asyncio.sleep(0.02)
    first = hb.stat().st_mtime_ns
    await asyncio.sleep(0.15)
    assert hb.stat().st_mtime_ns > first, "the heartbeat did not advance"
    # A blocked loop stops beating: that is what liveness must see.
    time.sleep(0.2)  # noqa: ASYNC251 - blocking the loop on purpose
    blocked_age = time.time() - hb.stat().st_mtime
    assert blocked_age >= 0.15
    stop.set()
    await asyncio.wait_for(task, 1)
    assert not hb.exists()


@pytest.mark.parametrize(("argv", "code"), [(["live"], 0), (["ready"], 1), ([], 2), (["x"], 2)])
def test_command_line_exit_codes(tmp_path: Path, argv: list[str], code: int) -> None:
    (tmp_path / "hb").touch()
    env = os.environ | {
        "ORDERS_HEARTBEAT_FILE": str(tmp_path / "hb"),
        "ORDERS_READY_FILE": str(tmp_path / "ready"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "workers.probe", *argv],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert done.returncode == code, done.stderr


def test_probe_imports_no_heavy_modules() -> None:
    """A probe runs every few seconds: it must not import Temporal or SQLAlchemy."""
    code = (
        "import sys, workers.probe; "
        "heavy = [m for m in ('temporalio', 'sqlalchemy', 'activities') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr
