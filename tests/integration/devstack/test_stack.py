"""The dev stack's own promises: idempotent start, private secrets, no PII in any log."""

from __future__ import annotations

import asyncio
import stat
import uuid

import pytest
from temporalio.client import Client

from orders.contract import identities
from orders.devstack import control
from orders.devstack.state import StackInfo, StackPaths, Status
from orders.models import Outcome
from tests.support import stack as support
from tests.support.stack import TEST_TTLS

pytestmark = pytest.mark.integration


def test_dev_up_twice_is_harmless(stack: StackInfo, stack_paths: StackPaths) -> None:
    before = Status.load(stack_paths)
    assert before is not None
    again = control.up(stack_paths, TEST_TTLS, timeout=10)
    assert again.state == "ready"
    assert again.supervisor_pid == before.supervisor_pid
    assert StackInfo.load(stack_paths).temporal_address == stack.temporal_address


def test_stack_runs_one_worker_per_identity(stack: StackInfo, stack_paths: StackPaths) -> None:
    status = Status.load(stack_paths)
    assert status is not None
    workers = {i.name for i in identities.workers()}
    assert workers <= set(status.processes)
    assert len(workers) == 1 + sum(i.kind is identities.Kind.ACTIVITY for i in identities.ALL)


def test_secrets_and_state_are_private(stack: StackInfo, stack_paths: StackPaths) -> None:
    private = [
        stack_paths.stack_json,
        *stack_paths.secrets.iterdir(),
        *stack_paths.tokens.iterdir(),
        *(stack_paths.identity / "clients").iterdir(),
        stack_paths.identity / "signing.key",
        *stack_paths.tls.glob("*.key"),  # server keys issued by Vault PKI
        *stack_paths.homes.glob("*/*.jwt"),  # identities' own projected tokens
        *stack_paths.homes.glob("*/*.token"),  # and their TokenRequest credentials
    ]
    assert len(private) > 10
    for path in private:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == 0o600, f"{path} has mode {oct(mode)}"
    homes = list(stack_paths.homes.iterdir())
    assert len(homes) == len(list(identities.workers())) + 1  # and the codec server's
    for directory in (stack_paths.secrets, stack_paths.tokens, stack_paths.logs, *homes):
        assert stat.S_IMODE(directory.stat().st_mode) & 0o077 == 0, directory


async def test_no_pii_or_secret_in_any_log(
    stack: StackInfo, stack_paths: StackPaths, client: Client
) -> None:
    tag = uuid.uuid4().hex[:10]
    pii = {
        "email": f"pii.{tag}@example.org",
        "address": f"{tag} Secret Garden Lane, Hiddenville",
        "payment": f"tok-{tag}",
    }
    order = support.make_order(
        "pii", email=pii["email"], address=pii["address"], ref=pii["payment"]
    )
    assert (await support.complete(client, order)).outcome is Outcome.COMPLETED
    await asyncio.sleep(1)  # let log lines reach the files
    secrets = [p.read_text().strip() for p in stack_paths.secrets.iterdir()]
    logs = list(stack_paths.logs.glob("*.log"))
    assert len(logs) >= 12
    for log in logs:
        text = log.read_text(errors="replace")
        for kind, value in pii.items():
            assert value not in text, f"{kind} leaked into {log.name}"
        for secret in secrets:
            assert secret not in text, f"a dev secret leaked into {log.name}"
        assert "eyJ" not in text, f"a JWT leaked into {log.name}"
        assert "PRIVATE KEY" not in text, f"a private key leaked into {log.name}"
