"""Record the golden histories of OrderWorkflow: one per path the saga has (``make histories``).

Usage: ``python -m tests.support.record_histories [--release v1]``. It writes
``<path>.json`` and ``manifest.json`` (workflow id and outcome of each, since a replay must
be given the workflow id) into ``tests/unit/workflows/histories/<release>/`` and touches no
other release's directory: a release's set, once a newer release is recorded, is kept as it is and
keeps being replayed by ``test_golden_histories.py``.

Why histories decoded, with synthetic data (and not the dev stack's encoded histories):

* A history recorded on the dev stack holds ciphertext under that stack's ephemeral Vault
  keys: once the stack is gone nothing can decode it, so a replay could not even read the
  workflow's input. Encoding under a committed test-only key instead would commit a key
  whose only use is to be thrown away, and would test the codec, which the replay does
  not exercise (a worker decodes before the workflow code runs).
* So the recorder runs the workflow as the unit tests do (``shop.py``): a local dev server
  from the venv's ``temporal`` binary, the pydantic data converter without a codec, the
  stand-in activities, and :class:`~tests.support.shop.SyntheticSeals`: sealed fields
  are opaque ``sealed:v1.synthetic.*`` tokens, so no plaintext (and no PII: every value is
  made up) is in a committed file.
* Approvers' keys are Ed25519 keys derived from a fixed seed (:func:`approver_keys`); the
  registry the workflow pins is an activity result, so the public keys are in the history
  itself and a replay verifies the recorded signatures with them: no Vault.

The recording is deterministic to run (fixed order ids, keys, worker identities; nothing
but the venv), though not byte-for-byte: event times, run ids and nonces differ each time.
Each path's result is checked before anything is written, so a recording that went another
way fails here instead of committing a wrong golden history.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import logging
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter

from orders.approvals import Decision, SignedApproval
from orders.contract import approval_policy
from orders.models import ApprovalPolicy, OrderStatus, Outcome, Step
from tests.support.approvals import Target, send_signal, send_update, signed
from tests.support.golden import HISTORIES, MANIFEST, NAMESPACE, PATHS, RELEASE
from tests.support.shop import (
    ApproverKeys,
    FakeShop,
    Harness,
    SyntheticSeals,
    new_order,
    running_shop,
    workflow_worker,
)
from tests.support.wait import wait_for
from workflows.order import NO_APPROVAL, STATUS_QUERY

CUSTOMER: Final = "cust-golden"
WORKFLOW_WORKER: Final = "order-workflow@golden"
WORKFLOW_WORKERS: Final = ("order-workflow@golden-a", "order-workflow@golden-b")
"""Identities of the workflow worker stopped mid-order and of the one that takes over."""
STICKY_TIMEOUT: Final = timedelta(seconds=1)
"""How long a workflow task waits for the stopped worker's sticky queue (SDK default 10 s)."""


class RecordingError(RuntimeError):
    """A path did not end the way its golden history must show."""


def approver_keys() -> ApproverKeys:
    """Every approver's key version 1, derived from a fixed seed (test-only, synthetic)."""
    return {
        a.name: {
            1: Ed25519PrivateKey.from_private_bytes(
                hashlib.sha256(f"orders-golden-history/{a.name}/v1".encode()).digest()
            )
        }
        for a in approval_policy.APPROVERS
    }


@dataclass
class Recording:
    """One path: its name, its workflow, and what it must have ended with."""

    name: str
    handle: WorkflowHandle[Any, Any]
    outcome: Outcome


class Recorder:
    """Runs every path against one shop and checks how each ended."""

    def __init__(self, harness: Harness) -> None:
        self.h = harness
        self.keys = harness.shop.approver_keys
        self.recordings: list[Recording] = []
        self.accepted: SignedApproval | None = None

    def order_id(self, name: str) -> str:
        """The fixed order id of path ``name``."""
        return f"ord-golden-{name.replace('_', '-')}-0001"

    async def sign(self, approver: str, data: bytes) -> str:
        """``data`` signed with ``approver``'s newest key, as Vault Transit formats it."""
        version, key = max(self.keys[approver].items())
        return f"vault:v{version}:" + base64.b64encode(key.sign(data)).decode()

    async def simple(self, name: str, outcome: Outcome, *items: tuple[str, int], **kw: str) -> None:
        """A path with no approval: start, wait, check the outcome."""
        handle = await self.h.start(new_order(*items, order_id=self.order_id(name), **kw))
        await self.finish(name, handle, outcome)

    async def finish(self, name: str, handle: WorkflowHandle[Any, Any], outcome: Outcome) -> None:
        """Wait for ``handle``'s end; keep it if it ended with ``outcome``, else raise."""
        status = OrderStatus.model_validate(await handle.result())
        if status.outcome is not outcome:
            raise RecordingError(f"{name}: ended {status.outcome}, expected {outcome}")
        self.recordings.append(Recording(name, handle, outcome))

    async def awaiting(self, name: str, deadline_seconds: int = 600) -> WorkflowHandle[Any, Any]:
        """Start a large order (one approval needed) and wait until it waits for it."""
        order = new_order(("SKU-LAPTOP", 1), order_id=self.order_id(name), customer=CUSTOMER)
        handle = await self.h.start(order, ApprovalPolicy(deadline_seconds=deadline_seconds))

        async def ready() -> bool:
            status = await handle.query(STATUS_QUERY, result_type=OrderStatus)
            return status.step is Step.AWAITING_APPROVAL

        await wait_for(ready)
        return handle

    async def approval_accepted(self) -> None:
        """Bob's signed approval through the Update; the order is paid."""
        handle = await self.awaiting("approval_accepted")
        target = await Target.of(handle, NAMESPACE)
        self.accepted = await signed(self.sign, target.message("bob"))
        if (reason := await send_update(handle, self.accepted)) is not None:
            raise RecordingError(f"approval_accepted: bob's approval refused ({reason})")
        await self.finish("approval_accepted", handle, Outcome.COMPLETED)

    async def approval_rejected(self) -> None:
        """Forged and replayed approvals dropped, then alice's signed rejection.

        The forged one (bob's message, a signature nobody made) and the replayed one (bob's
        approval of the accepted order) are in history as dropped signals; the replay
        through the Update is refused by its validator, so it leaves no event.
        """
        if self.accepted is None:
            raise RecordingError("approval_rejected replays approval_accepted's approval")
        handle = await self.awaiting("approval_rejected")
        target = await Target.of(handle, NAMESPACE)
        forged = SignedApproval(
            message=target.message("bob"), signature="vault:v1:" + "A" * 86 + "=="
        )
        await send_signal(handle, forged)
        await send_signal(handle, self.accepted)
        if await send_update(handle, self.accepted) is None:
            raise RecordingError("approval_rejected: a replayed approval was accepted")
        reject = await signed(self.sign, target.message("alice", decision=Decision.REJECT))
        if (reason := await send_update(handle, reject)) is not None:
            raise RecordingError(f"approval_rejected: alice's rejection refused ({reason})")
        await self.finish("approval_rejected", handle, Outcome.REJECTED)
        status = OrderStatus.model_validate(await handle.result())
        if status.rejected_signals != 2:
            raise RecordingError(f"approval_rejected: {status.rejected_signals} signals dropped")

    async def approval_expired(self) -> None:
        """An approval past its own expiry dropped; then the order's deadline passes."""
        handle = await self.awaiting("approval_expired", deadline_seconds=4)
        target = await Target.of(handle, NAMESPACE)
        stale = target.message("bob", issued_at=datetime.now(UTC) - timedelta(minutes=20))
        await send_signal(handle, await signed(self.sign, stale))
        await self.finish("approval_expired", handle, Outcome.REJECTED)
        status = OrderStatus.model_validate(await handle.result())
        if status.reason != NO_APPROVAL or status.rejected_signals != 1:
            raise RecordingError(f"approval_expired: {status.reason}, {status.rejected_signals}")

    async def worker_restarted(self) -> None:
        """The workflow worker is killed while fulfil is in flight; another one finishes.

        The first worker runs in a child process, killed (SIGKILL: no goodbye to the server,
        which a stopped worker would say) once fulfil has started. Fulfil's completion is
        then offered to the dead worker's sticky queue, where the workflow task times out
        (schedule to start), and is scheduled again on the normal queue for the second.
        """
        name = "worker_restarted"
        order = new_order(order_id=self.order_id(name))
        gate = self.h.shop.fulfil_gates[order.order_id] = asyncio.Event()
        started = self.h.shop.fulfil_started[order.order_id] = asyncio.Event()
        first, second = WORKFLOW_WORKERS
        target = self.h.client.service_client.config.target_host
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", __spec__.name, "--serve-workflow-worker", target, first
        )
        try:
            handle = await self.h.start(order)
            await asyncio.wait_for(started.wait(), timeout=60)
        finally:
            child.kill()
            await child.wait()
        gate.set()
        async with workflow_worker(self.h.client, identity=second):
            await self.finish(name, handle, Outcome.COMPLETED)
        events = (await handle.fetch_history()).events
        timed_out = [
            e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT
        ]
        completed_by = {
            e.workflow_task_started_event_attributes.identity
            for e in events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
        }
        if not timed_out or completed_by != set(WORKFLOW_WORKERS):
            raise RecordingError(f"{name}: timed out {len(timed_out)}, workers {completed_by}")

    async def record_all(self) -> list[Recording]:
        """Every path, in an order where each one's inputs exist."""
        async with workflow_worker(self.h.client, identity=WORKFLOW_WORKER):
            await self.simple("completed", Outcome.COMPLETED)
            await self.simple(
                "out_of_stock", Outcome.OUT_OF_STOCK, ("SKU-WIDGET", 1), ("SKU-SOLDOUT", 1)
            )
            await self.simple("declined", Outcome.PAYMENT_DECLINED, reference="decline-golden-card")
            await self.simple(
                "refund_undeliverable",
                Outcome.FULFILLMENT_FAILED,
                address="Undeliverable Lane 1, Nowhere",
            )
            await self.approval_accepted()
            await self.approval_rejected()
            await self.approval_expired()
        # With this worker stopped: the restart path runs its own two, neither shares a cache.
        await self.worker_restarted()
        return self.recordings


async def record(release: str) -> Path:
    """Record every path into ``histories/<release>/`` (replacing only that directory)."""
    shop = FakeShop(SyntheticSeals(), approver_keys=approver_keys())
    async with running_shop(
        shop,
        with_workflow_worker=False,
        client_identity="order-client@golden",
        activity_worker_identity=lambda queue: f"{queue}@golden",
    ) as harness:
        recordings = await Recorder(harness).record_all()
        histories = {r.name: await r.handle.fetch_history() for r in recordings}
    names = [r.name for r in recordings]
    if tuple(names) != PATHS:
        raise RecordingError(f"recorded {names}, expected {list(PATHS)}")
    target = HISTORIES / release
    staging = HISTORIES / f".{release}.recording"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    manifest: dict[str, Any] = {"release": release, "histories": {}}
    for r in recordings:
        (staging / f"{r.name}.json").write_text(histories[r.name].to_json() + "\n")
        manifest["histories"][r.name] = {"workflow_id": r.handle.id, "outcome": r.outcome.value}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    # Written whole, then swapped in: an interrupted run leaves the committed set as it was.
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


async def serve_workflow_worker(target: str, identity: str) -> None:
    """Run a workflow worker until killed (the child of :meth:`Recorder.worker_restarted`)."""
    client = await Client.connect(
        target, namespace=NAMESPACE, data_converter=pydantic_data_converter, identity=identity
    )
    worker = workflow_worker(client, identity=identity, sticky_timeout=STICKY_TIMEOUT)
    await worker.run()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``make histories``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--release",
        default=RELEASE,
        help=f"the set to (re)record under histories/ (default: {RELEASE}); other sets stay",
    )
    parser.add_argument("--serve-workflow-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # Refused approvals and dropped signals are what some paths are about: not news here.
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    if args.serve_workflow_worker:
        asyncio.run(serve_workflow_worker(*args.serve_workflow_worker))
        return 0
    if not args.release.replace("-", "").replace("_", "").isalnum():
        print(f"--release {args.release!r}: letters, digits, - and _ only", file=sys.stderr)
        return 2
    target = asyncio.run(record(args.release))
    print(f"recorded {len(PATHS)} histories in {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
