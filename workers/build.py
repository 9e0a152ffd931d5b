"""Wiring of one worker: identity -> settings -> Vault session -> DB engine -> queue.

The workflow worker registers only the workflow and never gets a database engine (its
Vault policy could not obtain a credential anyway). Each activity worker registers only
its own identity's activities, on its own task queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import timedelta
from pathlib import Path
from typing import Final

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig
from temporalio.worker import Worker, WorkerDeploymentConfig
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import activities_for
from orders import logging as olog
from orders import rollout, temporal
from orders.contract.identities import Identity, Kind
from orders.db.engine import create_engine, pool_capacity
from orders.observability import metrics, tracing
from orders.observability import sdk as sdk_metrics
from orders.security import client_tls
from orders.security.codec import codec_for
from orders.security.k8s_token import TokenProjector
from orders.security.sealing import Unsealer
from orders.security.vault import VaultSession
from orders.settings import WorkerSettings
from workers import probe
from workflows import workflows_for

log = olog.get(__name__)

DEFAULT_ACTIVITY_SLOTS: Final = 50
"""Activity slots of a worker without a database (its activities wait on Vault only)."""


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox every workflow worker (and the benchmark's plain worker) runs in.

    The workflow modules import the project's own modules (``orders.*``: contract, models,
    approval verification) inside ``workflow.unsafe.imports_passed_through()``, so the
    sandbox re-runs only ``workflows.*`` for each run; ``tests/unit/workflows/
    test_sandbox_imports.py`` holds them to it. cryptography (Ed25519 verification of
    approvals) is passed through as well.
    """
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("cryptography")
    )


def activity_slots(identity: Identity, settings: WorkerSettings) -> int:
    """Activity slots of ``identity``'s worker: never more than its database pool serves.

    Derived, not configured twice: an attempt that started but waits for a pooled
    connection fails after ``pool_timeout`` and burns a retry, while a task left in the
    queue waits for free (schedule-to-start latency, visible in Temporal's metrics).
    """
    if not identity.has_db_role:
        return settings.max_concurrent_activities or DEFAULT_ACTIVITY_SLOTS
    capacity = pool_capacity(settings)
    return min(settings.max_concurrent_activities or capacity, capacity)


def build_worker(
    client: Client,
    identity: Identity,
    engine: AsyncEngine | None,
    *,
    unsealer: Unsealer | None = None,
    max_concurrent_activities: int = DEFAULT_ACTIVITY_SLOTS,
    graceful_shutdown: timedelta = timedelta(seconds=20),
    build_id: str | None = None,
    deployment: WorkerDeploymentConfig | None = None,
) -> Worker:
    """A Temporal worker for ``identity`` on its own task queue.

    Args:
        client: Connected Temporal client.
        identity: A workflow or activity identity.
        engine: Database engine of an activity identity (None for the workflow identity).
        unsealer: The identity's unsealer (required for an activity identity; the workflow
            never unseals).
        max_concurrent_activities: Activity slots (:func:`activity_slots` for a worker).
        graceful_shutdown: How long in-flight activities may finish on shutdown.
        build_id: The code's build ID (:func:`orders.rollout.build_id`; None: the default).
        deployment: The Worker Deployment version a workflow worker polls as
            (:func:`orders.rollout.deployment_config`); None: unversioned.

    Raises:
        ValueError: For an identity that runs no worker, or a missing engine or unsealer.
    """
    build_id = build_id or rollout.code_build_id()
    if identity.kind is Kind.WORKFLOW:
        return Worker(
            client,
            task_queue=identity.task_queue,
            workflows=workflows_for(identity),
            identity=f"{identity.name}@{_host()}",
            # The SDK takes the build ID from the deployment version when there is one.
            build_id=None if deployment is not None else build_id,
            deployment_config=deployment,
            workflow_runner=workflow_runner(),
        )
    if (
        identity.kind is not Kind.ACTIVITY
        or (engine is None and identity.has_db_role)
        or unsealer is None
    ):
        raise ValueError(f"{identity.name} runs no activity worker (or lacks engine/unsealer)")
    return Worker(
        client,
        task_queue=identity.task_queue,
        activities=activities_for(identity, engine, unsealer),
        max_concurrent_activities=max_concurrent_activities,
        graceful_shutdown_timeout=graceful_shutdown,
        identity=f"{identity.name}@{_host()}",
        build_id=build_id,
    )


async def run_worker(identity: Identity, settings: WorkerSettings | None = None) -> int:
    """Run ``identity``'s worker until SIGTERM/SIGINT, then drain and revoke.

    Returns:
        Process exit code.
    """
    settings = settings or WorkerSettings(identity=identity.name)
    olog.configure(identity.name, settings.log_level)
    runtime = observe(identity, settings)
    tracer = tracing.interceptor(identity.name, settings.trace_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    background: list[asyncio.Task[None]] = []
    if settings.k8s_host:
        # Locally the worker plays kubelet: it requests its own projected token.
        projector = TokenProjector.from_settings(settings, identity)
        await asyncio.to_thread(projector.refresh)
        background.append(asyncio.create_task(projector.run(stop)))

    if settings.heartbeat_file is not None:
        # Liveness for exec probes: beats stop if this event loop ever blocks.
        beats = probe.heartbeat(settings.heartbeat_file, settings.heartbeat_seconds, stop)
        background.append(asyncio.create_task(beats))

    session = VaultSession(identity, settings)
    await session.start()
    background.append(asyncio.create_task(session.run(stop)))
    engine = create_engine(settings, session) if identity.has_db_role else None
    try:
        codec = codec_for(session, settings)
        tls = await client_tls.for_settings(identity, session, settings)
        token = await client_tls.token_for_settings(identity, session, settings)
        client = await temporal.connect(
            settings.temporal_address,
            settings.temporal_namespace,
            codec,
            tls=tls.tls_config() if tls else None,
            api_key=token.current if token else None,
            runtime=runtime,
            tracing=tracer,
        )
        worker = build_worker(
            client,
            identity,
            engine,
            unsealer=Unsealer(codec.transit, identity),
            max_concurrent_activities=activity_slots(identity, settings),
            graceful_shutdown=timedelta(seconds=settings.shutdown_grace_seconds),
            build_id=rollout.build_id(settings),
            deployment=rollout.deployment_config(identity, settings),
        )
        if tls is not None:

            async def swap(config: TLSConfig) -> None:
                # New polls go over a connection with the new certificate; calls already
                # made (in-flight tasks' completions) finish on the old client.
                fresh = await temporal.connect(
                    settings.temporal_address,
                    settings.temporal_namespace,
                    codec,
                    tls=config,
                    api_key=token.current if token else None,
                    runtime=runtime,
                    tracing=tracer,
                )
                if token is not None:
                    # The token may have been renewed while this connected: that refresh
                    # went to the old client, and the front refuses an expired bearer.
                    fresh.api_key = token.current
                worker.client = fresh
                log.info("temporal.client.swapped", serial=tls.current.serial)

            tls.on_renew(swap)
            background.append(asyncio.create_task(tls.run(stop)))
        if token is not None:

            async def refresh(jwt: str) -> None:
                # The live connection's next calls (polls included) carry the new token.
                worker.client.api_key = jwt
                log.info("temporal.token.refreshed")

            token.on_renew(refresh)
            background.append(asyncio.create_task(token.run(stop)))
        async with worker:
            log.info("worker.started", task_queue=identity.task_queue)
            if settings.ready_file is not None:
                settings.ready_file.write_text("ready\n")
            await stop.wait()
            log.info("worker.draining")
        log.info("worker.stopped")
    finally:
        stop.set()
        for task in background:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, timeout=5)
        if engine is not None:
            await engine.dispose()
        await session.close()
        await asyncio.to_thread(tracing.flush)
        if settings.ready_file is not None:
            settings.ready_file.unlink(missing_ok=True)
    return 0


def observe(identity: Identity, settings: WorkerSettings) -> Runtime | None:
    """Serve this process's metrics where ``settings`` say; its SDK runtime, if configured.

    Returns:
        The runtime exporting the SDK's (and the workflow's) metrics; None: the default
        runtime, which exports none.
    """
    metrics.configure(identity.name)
    if settings.metrics_port is not None:
        metrics.serve(settings.metrics_host, settings.metrics_port)
    if settings.sdk_metrics_port is None:
        return None
    return sdk_metrics.runtime(identity.name, settings.metrics_host, settings.sdk_metrics_port)


def _host() -> str:
    import socket

    return socket.gethostname()


def ready_path(state_dir: Path, identity: Identity) -> Path:
    """Where the dev stack expects ``identity``'s ready marker."""
    return state_dir / f"{identity.name}.ready"
