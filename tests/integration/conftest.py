"""One real stack per test session: Temporal, OpenBao, Postgres, identity endpoint, workers.

The stack runs under its own home (``.orders/test``) with short credential lifetimes, so
renewal and rotation happen many times while the suite runs. Tear-down stops it and fails
the session if any dynamic Postgres role is left behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from orders.devstack import actas, control
from orders.devstack.state import PROJECT_ROOT, StackInfo, StackPaths

TEST_HOME = PROJECT_ROOT / ".orders" / "test"
TEST_TTLS = control.UpOptions(
    db_ttl=10, db_max_ttl=30, token_ttl=20, token_max_ttl=60, min_token_seconds=10, cert_ttl=15
)


_early: subprocess.Popen[bytes] | None = None
"""The supervisor launched at collection time, while the unit tests run."""


def _is_integration(item: pytest.Item) -> bool:
    return Path(str(item.path)).is_relative_to(Path(__file__).parent)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Unit tests first (the stack boots meanwhile); chaos last (it stops servers)."""
    items.sort(
        key=lambda item: (_is_integration(item), item.get_closest_marker("chaos") is not None)
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    """Boot the stack in the background as soon as we know integration tests will run.

    Its ~40 s of start-up then overlaps the unit tests instead of adding to them.
    """
    global _early
    if session.config.option.collectonly or not any(map(_is_integration, session.items)):
        return
    paths = StackPaths(TEST_HOME)
    if control.supervisor_process(paths) is None:
        shutil.rmtree(TEST_HOME, ignore_errors=True)
        _early = control.start(paths, TEST_TTLS)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop an early-started stack that no test used (e.g. the unit tests failed with -x)."""
    if _early is not None and control.supervisor_process(StackPaths(TEST_HOME)) is not None:
        control.down(StackPaths(TEST_HOME))


@pytest.fixture(scope="session")
def stack_paths() -> StackPaths:
    return StackPaths(TEST_HOME)


@pytest.fixture(scope="session")
def stack(stack_paths: StackPaths) -> Iterator[StackInfo]:
    """Start the stack once (fresh state), stop it at the end and check the clean-up."""
    os.environ["ORDERS_HOME"] = str(TEST_HOME)
    if _early is not None:
        control.wait_ready(stack_paths, child=_early)
    else:
        if control.supervisor_process(stack_paths) is None:
            shutil.rmtree(TEST_HOME, ignore_errors=True)
        control.up(stack_paths, TEST_TTLS)
    yield StackInfo.load(stack_paths)
    status = control.down(stack_paths)
    assert status is not None
    assert status.state == "stopped", status.detail
    assert status.report.get("leftover_dynamic_roles") == [], status.report


@pytest.fixture(scope="session")
async def client(stack: StackInfo, stack_paths: StackPaths) -> AsyncIterator[Client]:
    """A client acting as ``order-client``: own token, Vault login, payload codec."""
    async with actas.temporal_client(stack, stack_paths) as c:
        yield c
