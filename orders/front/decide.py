"""The front's decisions: one pure function from (access, call, parsed request) to a verdict.

Allow-listed: a method not named here is refused for everyone (``*ById`` completions,
terminate, reset, delete, cancel, signal-with-start, multi-operations, batch operations,
schedules, namespace and operator administration ...). Methods that answer a task are
allowed here only in shape; the server checks that the task token was handed to the same
principal (:mod:`orders.front.tokens`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from temporalio.api.enums.v1 import TaskQueueKind

from orders.contract.temporal_access import TemporalAccess, WorkflowGrant

WORKFLOW_SERVICE: Final = "temporal.api.workflowservice.v1.WorkflowService"
OPERATOR_SERVICE: Final = "temporal.api.operatorservice.v1.OperatorService"
HEALTH_CHECK: Final = "/grpc.health.v1.Health/Check"

HARMLESS: Final = frozenset({"GetSystemInfo", "DescribeNamespace"})
"""Every authenticated principal: the SDK's connect and worker start-up ask these."""

TOKEN_METHODS: Final = frozenset(
    {
        "RespondWorkflowTaskCompleted",
        "RespondWorkflowTaskFailed",
        "RespondQueryTaskCompleted",
        "RespondActivityTaskCompleted",
        "RespondActivityTaskFailed",
        "RespondActivityTaskCanceled",
        "RecordActivityTaskHeartbeat",
    }
)
"""Methods that answer a task by its token: only the principal that polled it may."""

WORKER_HOUSEKEEPING: Final = frozenset({"ResetStickyTaskQueue", "ShutdownWorker"})
"""Calls a polling worker makes about its own sticky queue (workflow pollers), or, for
``ShutdownWorker`` without a sticky queue, about its own task queue (activity pollers)."""
HEARTBEAT: Final = "RecordWorkerHeartbeat"
"""The SDK's worker heartbeat: allowed for the queues the principal polls."""

READ_METHODS: Final = frozenset(
    {
        "DescribeWorkflowExecution",
        "GetWorkflowExecutionHistory",
        "GetWorkflowExecutionHistoryReverse",
    }
)
LIST_METHODS: Final = frozenset(
    {
        "ListWorkflowExecutions",
        "CountWorkflowExecutions",
        "ScanWorkflowExecutions",
        "ListOpenWorkflowExecutions",
        "ListClosedWorkflowExecutions",
        "GetSearchAttributes",
    }
)

DEPLOYMENT_METHODS: Final = frozenset(
    {
        "SetWorkerDeploymentCurrentVersion",
        "DescribeWorkerDeployment",
        "DescribeWorkerDeploymentVersion",
        "ListWorkerDeployments",
    }
)
"""The operator's rollout (``manage_deployments``). Ramping, deleting versions or
deployments and changing a run's versioning options are refused for everyone: a rollout
here is "make the version current", and every other versioning write stays a server
administrator's act outside the front."""

PARSED: Final = frozenset(
    HARMLESS
    | DEPLOYMENT_METHODS
    | TOKEN_METHODS
    | WORKER_HOUSEKEEPING
    | {HEARTBEAT}
    | READ_METHODS
    | LIST_METHODS
    | {
        "PollWorkflowTaskQueue",
        "PollActivityTaskQueue",
        "StartWorkflowExecution",
        "SignalWorkflowExecution",
        "UpdateWorkflowExecution",
        "PollWorkflowExecutionUpdate",
        "QueryWorkflow",
        "RegisterNamespace",
        "DescribeTaskQueue",
    }
)
"""Methods the front parses the request of; every other method is refused unparsed."""


@dataclass(frozen=True)
class Verdict:
    """The front's answer to one call.

    Attributes:
        allowed: Whether the call goes on to Temporal.
        reason: Why it was refused (no payload, nothing secret), or "" when allowed.
        grant: The workflow grant a start matched (the server completes the request).
    """

    allowed: bool
    reason: str = ""
    grant: WorkflowGrant | None = None


ALLOW: Final = Verdict(True)


def deny(reason: str) -> Verdict:
    """A refusal with its reason."""
    return Verdict(False, reason)


def _owned(grants: Iterable[WorkflowGrant], workflow_id: str) -> WorkflowGrant | None:
    for grant in grants:
        if workflow_id.startswith(grant.id_prefix) and len(workflow_id) > len(grant.id_prefix):
            return grant
    return None


def _activity_shutdown(access: TemporalAccess, request: Any) -> Verdict:
    """An activity worker says it is shutting down: about its own queue, no sticky queue."""
    polled = set(access.poll_activity_queues)
    queues = {q for q in (request.task_queue, request.worker_heartbeat.task_queue) if q}
    if request.sticky_task_queue or not queues <= polled:
        return deny("ShutdownWorker for another queue")
    return ALLOW


def decide(access: TemporalAccess, namespace: str, method: str, request: Any) -> Verdict:
    """Whether a principal with ``access`` may make this WorkflowService call.

    Args:
        access: What the principal may do.
        namespace: The only namespace any call may name.
        method: The WorkflowService method's short name.
        request: Its parsed request message (see :data:`PARSED`; None for other methods).

    Returns:
        The verdict; a refusal names what was refused (queue, type, handler), never data.
    """
    if method not in PARSED or request is None:
        return deny(f"{method} is not allowed through the front")
    requested = getattr(request, "namespace", "")
    if requested and requested != namespace:
        return deny(f"namespace {requested!r}")
    if method in HARMLESS:
        return ALLOW
    if method == "PollWorkflowTaskQueue":
        tq = request.task_queue
        name = tq.normal_name if tq.kind == TaskQueueKind.TASK_QUEUE_KIND_STICKY else tq.name
        if name in access.poll_workflow_queues:
            return ALLOW
        return deny(f"polling workflow task queue {tq.name!r}")
    if method == "PollActivityTaskQueue":
        tq = request.task_queue
        if (
            tq.kind != TaskQueueKind.TASK_QUEUE_KIND_STICKY
            and tq.name in access.poll_activity_queues
        ):
            return ALLOW
        return deny(f"polling activity task queue {tq.name!r}")
    if method in TOKEN_METHODS:
        # Only pollers ever hold a token; the server checks it is one they were handed.
        if access.poll_workflow_queues or access.poll_activity_queues:
            return ALLOW
        return deny(f"{method} without polling")
    if method in WORKER_HOUSEKEEPING:
        if access.poll_workflow_queues:
            return ALLOW
        if method == "ShutdownWorker" and access.poll_activity_queues:
            return _activity_shutdown(access, request)
        return deny(f"{method} without polling")
    if method == HEARTBEAT:
        polled = {*access.poll_workflow_queues, *access.poll_activity_queues}
        queues = {hb.task_queue for hb in request.worker_heartbeat}
        return ALLOW if queues <= polled and polled else deny(f"{method} for another queue")
    if method == "StartWorkflowExecution":
        return _start(access, request)
    if method == "SignalWorkflowExecution":
        grant = _owned(access.send, request.workflow_execution.workflow_id)
        if grant is not None and request.signal_name in grant.signals:
            return ALLOW
        return deny(f"signal {request.signal_name!r}")
    if method == "UpdateWorkflowExecution":
        grant = _owned(access.send, request.workflow_execution.workflow_id)
        name = request.request.input.name
        return ALLOW if grant is not None and name in grant.updates else deny(f"update {name!r}")
    if method == "PollWorkflowExecutionUpdate":
        grant = _owned(access.send, request.update_ref.workflow_execution.workflow_id)
        return ALLOW if grant is not None and grant.updates else deny("polling an update")
    if method == "QueryWorkflow":
        grant = _owned(access.query, request.execution.workflow_id)
        name = request.query.query_type
        return ALLOW if grant is not None and name in grant.queries else deny(f"query {name!r}")
    if method in READ_METHODS:
        if _owned(access.read, request.execution.workflow_id) is not None:
            return ALLOW
        return deny(f"{method} of a workflow it does not read")
    if method in LIST_METHODS:
        return ALLOW if access.list else deny(f"{method}")
    if method == "RegisterNamespace":
        return ALLOW if access.register_namespace else deny("RegisterNamespace")
    if method == "DescribeTaskQueue":
        tq = request.task_queue
        if tq.kind != TaskQueueKind.TASK_QUEUE_KIND_STICKY and tq.name in access.describe_queues:
            return ALLOW
        return deny(f"describing task queue {tq.name!r}")
    if method in DEPLOYMENT_METHODS:
        return ALLOW if access.manage_deployments else deny(f"{method} (an operator's rollout)")
    return deny(f"{method} is not allowed through the front")


def _start(access: TemporalAccess, request: Any) -> Verdict:
    wtype, queue = request.workflow_type.name, request.task_queue.name
    for grant in access.start:
        if (grant.workflow_type, grant.task_queue) != (wtype, queue):
            continue
        if _owned((grant,), request.workflow_id) is None:
            return deny(f"starting {wtype} with an id outside {grant.id_prefix!r}")
        return Verdict(True, grant=grant)
    return deny(f"starting {wtype!r} on task queue {queue!r}")
