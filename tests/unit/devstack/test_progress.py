"""``orders dev up`` tells what the supervisor is doing, each step once (#17)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from orders.devstack import control
from orders.devstack.state import StackPaths, Status


def test_each_new_step_is_reported_once_until_ready(tmp_path: Path) -> None:
    paths = StackPaths(tmp_path)
    paths.ensure()
    steps = ["starting postgres (waiting until it answers)", "migrating the schema", "done"]

    def supervisor() -> None:
        for step in steps[:-1]:
            Status(state="starting", detail=step).save(paths)
            time.sleep(0.7)  # longer than wait_ready's poll: every step is seen
        Status(state="ready", detail=steps[-1]).save(paths)

    seen: list[str] = []
    Status(state="starting", detail=steps[0]).save(paths)
    writer = threading.Thread(target=supervisor)
    writer.start()
    status = control.wait_ready(paths, timeout=10, progress=seen.append)
    writer.join()
    assert status.state == "ready"
    assert seen == steps
