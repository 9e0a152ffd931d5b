"""One real stack per test session: Temporal, OpenBao, Postgres, identity endpoint, workers.

The stack runs under its own home (``.orders/test``) with short credential lifetimes, so
renewal and rotation happen many times while the suite runs. Tear-down stops it and fails
the session if any dynamic Postgres role is left behind.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
from temporalio.client import Client

from orders.devstack import actas, control
from orders.devstack.state import StackInfo, StackPaths
from tests.support.stack import TEST_HOME, TEST_TTLS


@pytest.fixture(scope="session")
def stack_paths() -> StackPaths:
    return StackPaths(TEST_HOME)


@pytest.fixture(scope="session")
def stack(stack_paths: StackPaths) -> Iterator[StackInfo]:
    """Start the stack once (fresh state), stop it at the end and check the clean-up."""
    os.environ["ORDERS_HOME"] = str(TEST_HOME)
    # Every process of the stack inherits it: after an outage a worker retries Vault within
    # 2 s rather than 10 (the short chaos run has 24 s of orders, not minutes).
    os.environ["ORDERS_LEASE_RETRY_MAX_SECONDS"] = "2"
    # Prometheus scrapes every 2 s here, so a test sees a counter move within seconds.
    os.environ["ORDERS_PROMETHEUS_SCRAPE_SECONDS"] = "2"
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
