"""One summary line: how many committed histories replayed (visible under ``-q`` too)."""

from __future__ import annotations

from typing import Final

import pytest
from _pytest.terminal import TerminalReporter

REPLAY_TESTS: Final = ("test_committed_history_replays", "test_pre_saga_history_replays")
"""The tests that replay one committed history each."""
_outcomes: dict[str, list[str]] = {"passed": [], "failed": []}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Tally the replay tests' results."""
    function = report.nodeid.split("::")[-1].split("[")[0]
    if function not in REPLAY_TESTS:
        return
    if report.when == "call" or (report.when == "setup" and report.failed):
        _outcomes["passed" if report.passed else "failed"].append(report.nodeid)


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    """Print the count, if any replay test ran."""
    passed, failed = len(_outcomes["passed"]), len(_outcomes["failed"])
    if passed or failed:
        terminalreporter.write_line(
            f"committed workflow histories replayed: {passed} passed, {failed} failed"
        )
