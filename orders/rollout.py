"""Versioned rollouts: which Worker Deployment version a worker polls as, and promoting one.

A workflow identity's worker polls as the Worker Deployment version ``(<identity>, <build
ID>)`` (:func:`deployment_config`); its workflows are ``PINNED``: a run stays on the version
it started on, new runs go to the deployment's *current* version. Making a version current
is the operator's act (:func:`set_current`, ``orders deploy promote``), allowed through the
authorization front to the ``temporal-admin`` principal only
(:func:`orders.contract.temporal_access.temporal_admin_access`), never to a worker.

No payload crosses these calls, so they use a bare service client (like the namespace
registration), not the codec-bound :func:`orders.temporal.connect`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import temporalio
from temporalio.api.enums.v1 import VersionDrainageStatus, WorkerDeploymentVersionStatus
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
)
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode, ServiceClient

from orders.contract.identities import Identity, Kind
from orders.settings import WorkerSettings

if TYPE_CHECKING:
    from temporalio.worker import WorkerDeploymentConfig

PROJECT_ROOT: Final = Path(__file__).resolve().parent.parent
CODE_PACKAGES: Final = ("orders", "workflows", "activities", "workers")
DEFAULT_BEHAVIOR: Final = VersioningBehavior.PINNED
"""How a workflow run moves between versions: it doesn't (docs/evolving-workflows.md)."""
OPERATOR: Final = "orders deploy promote"
"""The ``identity`` recorded by Temporal as who changed the current version."""


@functools.cache
def code_build_id() -> str:
    """The default build ID: a digest of the project's Python source and the SDK version.

    Left unset, the SDK hashes the bytecode of every loaded module, compiling each one where
    no bytecode cache exists (read-only images, ``PYTHONDONTWRITEBYTECODE``): about two
    seconds of CPU per worker start. What differs between two builds of this project is
    its own code and the SDK, so that is what the ID names.
    """
    digest = hashlib.sha256(f"temporalio {temporalio.__version__}".encode())
    for package in CODE_PACKAGES:
        for source in sorted((PROJECT_ROOT / package).rglob("*.py")):
            digest.update(source.relative_to(PROJECT_ROOT).as_posix().encode())
            digest.update(source.read_bytes())
    return "orders-" + digest.hexdigest()[:20]


def build_id(settings: WorkerSettings) -> str:
    """The worker's build ID: ``ORDERS_BUILD_ID``, else :func:`code_build_id` (one place)."""
    return settings.build_id or code_build_id()


def deployment_config(
    identity: Identity, settings: WorkerSettings
) -> WorkerDeploymentConfig | None:
    """The Worker Deployment version ``identity``'s worker polls as, if it is versioned.

    Only workflow identities are: replaying an old run through new code is what breaks, and
    a pinned run keeps its code. Activity workers roll over in place (activities do not
    replay; their names and single-model inputs are the contract, kept compatible).

    Returns:
        The config (deployment :attr:`Identity.worker_deployment`, :func:`build_id`, runs
        ``PINNED``), or None: the worker polls unversioned.
    """
    # Imported here: tools that only need build IDs (the CLI) skip the worker machinery.
    from temporalio.worker import WorkerDeploymentConfig

    if identity.kind is not Kind.WORKFLOW or not settings.worker_versioning:
        return None
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(identity.worker_deployment, build_id(settings)),
        use_worker_versioning=True,
        default_versioning_behavior=DEFAULT_BEHAVIOR,
    )


class VersionNotPolledError(LookupError):
    """No worker of this build ID has polled the deployment yet: nothing to promote."""

    def __init__(self, deployment: str, build: str) -> None:
        self.deployment, self.build_id = deployment, build
        super().__init__(
            f"build id {build!r}: no worker of deployment {deployment!r} has polled with it "
            "yet; start that version's workers first (see `orders deploy status`)"
        )


async def set_current(
    service: ServiceClient, namespace: str, identity: Identity, build: str
) -> str | None:
    """Make ``build`` the current version of ``identity``'s deployment: new runs go there.

    Returns:
        The build ID that was current before (None: unversioned workers were).

    Raises:
        VersionNotPolledError: No worker of ``build`` has polled (Temporal knows no such
            version), or the deployment does not exist yet.
        RPCError: Any other refusal (``PERMISSION_DENIED`` for a worker identity).
    """
    request = SetWorkerDeploymentCurrentVersionRequest(
        namespace=namespace,
        deployment_name=identity.worker_deployment,
        build_id=build,
        identity=OPERATOR,
    )
    try:
        answer = await service.workflow_service.set_worker_deployment_current_version(request)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise VersionNotPolledError(identity.worker_deployment, build) from None
        raise
    previous = answer.previous_deployment_version.build_id
    return previous or None


async def promote_when_polled(
    service: ServiceClient, namespace: str, identity: Identity, build: str, timeout: float = 30.0
) -> str | None:
    """:func:`set_current` once the version's first poll has reached Temporal.

    A worker reports itself ready when it starts polling; Temporal registers the version
    when that poll arrives, a moment later.

    Raises:
        VersionNotPolledError: Still unknown after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await set_current(service, namespace, identity, build)
        except VersionNotPolledError:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.2)


@dataclass(frozen=True)
class VersionState:
    """One version of a deployment, as Temporal describes it.

    Attributes:
        build_id: The version's build ID.
        status: ``current``, ``ramping``, ``draining`` (pinned runs left, or not checked
            yet), ``drained`` (none left: its workers may stop), ``inactive`` (never
            current) or ``created``.
    """

    build_id: str
    status: str


@dataclass(frozen=True)
class DeploymentState:
    """A deployment's current version and every version Temporal knows.

    Attributes:
        name: The deployment (an identity's name).
        current: The current version's build ID (None: unversioned workers get new runs).
        versions: Every version, oldest first.
    """

    name: str
    current: str | None
    versions: tuple[VersionState, ...]


def _status(status: int, drainage: int) -> str:
    if drainage == VersionDrainageStatus.VERSION_DRAINAGE_STATUS_DRAINED:
        return "drained"
    try:
        name = WorkerDeploymentVersionStatus.Name(status)  # type: ignore[arg-type]
    except ValueError:
        return "unknown"
    return name.removeprefix("WORKER_DEPLOYMENT_VERSION_STATUS_").lower()


async def describe(service: ServiceClient, namespace: str, identity: Identity) -> DeploymentState:
    """The state of ``identity``'s deployment.

    Raises:
        VersionNotPolledError: The deployment does not exist (no versioned worker polled).
    """
    request = DescribeWorkerDeploymentRequest(
        namespace=namespace, deployment_name=identity.worker_deployment
    )
    try:
        answer = await service.workflow_service.describe_worker_deployment(request)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise VersionNotPolledError(identity.worker_deployment, "") from None
        raise
    info = answer.worker_deployment_info
    versions = sorted(info.version_summaries, key=lambda v: v.create_time.ToNanoseconds())
    return DeploymentState(
        name=identity.worker_deployment,
        current=info.routing_config.current_deployment_version.build_id or None,
        versions=tuple(
            VersionState(v.deployment_version.build_id, _status(v.status, v.drainage_status))
            for v in versions
        ),
    )
