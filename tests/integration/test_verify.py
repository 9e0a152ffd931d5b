"""``orders verify`` against the session stack: green as deployed, red when a grant widens.

The command runs as a user would run it (a subprocess, the stack's own ``stack.json`` as
the target); the checks are the ones the other integration tests call
(:mod:`orders.verify`), so this test proves the command wires them to a target file.
"""

from __future__ import annotations

import json
import time

import pytest

from orders.contract import identities
from orders.devstack.state import StackInfo, StackPaths
from orders.verify.runner import CHECKS
from tests.support import stack as support
from tests.support.stack import orders_cli

pytestmark = pytest.mark.integration


def test_verify_passes_on_the_stack(stack: StackInfo, stack_paths: StackPaths) -> None:
    started = time.monotonic()
    done = orders_cli(stack_paths, "verify", str(stack_paths.stack_json), "--output", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert [c["name"] for c in report["checks"]] == list(CHECKS)
    failed = [c for c in report["checks"] if not c["passed"]]
    assert failed == []
    assert all(c["problems"] == [] for c in report["checks"])
    assert time.monotonic() - started < 60


async def test_a_widened_grant_fails_the_privilege_check(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    group = identities.ORDER_NOTIFY.db_group
    admin = await support.admin_pg(stack)
    try:
        await admin.execute(f"GRANT SELECT ON orders.payments TO {group}")
        done = orders_cli(
            stack_paths, "verify", str(stack_paths.stack_json), "--only", "postgres-privileges"
        )
    finally:
        await admin.execute(f"REVOKE SELECT ON orders.payments FROM {group}")
        await admin.close()
    print(done.stdout)  # the failing report, for the record (pytest -s)
    assert done.returncode == 1, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("postgres-privileges"))
    assert " FAIL " in line
    assert "order-notify: SELECT payments." in line
    assert "FAILED: postgres-privileges" in done.stdout.splitlines()[-1]
    # Revoked: green again.
    again = orders_cli(
        stack_paths, "verify", str(stack_paths.stack_json), "--only", "postgres-privileges"
    )
    assert again.returncode == 0, again.stdout
