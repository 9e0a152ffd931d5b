"""The calls a compromised identity would try at Temporal, and how to try them.

Used by the authorization-matrix test (tests/integration/front) and by the demo's evidence:
each :class:`Probe` is one raw gRPC call (Temporal's own message classes, grpcio) with the
contract's answer to "may this principal make it" as a predicate on its
:class:`~orders.contract.temporal_access.TemporalAccess`. Allowed calls are built so that
they change nothing even when they reach Temporal (unknown workflow ids, an invalid
timeout on a start, sticky queues for workflow polls); refused ones must come back
``PERMISSION_DENIED`` at once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import hvac
from google.protobuf.duration_pb2 import Duration
from temporalio.api.common.v1 import WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.operatorservice.v1 import request_response_pb2 as opv1
from temporalio.api.query.v1 import WorkflowQuery
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.update.v1 import Input, Request
from temporalio.api.worker.v1 import WorkerHeartbeat
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsv1

from orders.contract import api, identities, temporal_access
from orders.contract.identities import Identity
from orders.contract.temporal_access import TemporalAccess
from orders.front.decide import OPERATOR_SERVICE, WORKFLOW_SERVICE
from orders.front.tokens import TokenBinding
from orders.security import certs

NS = identities.TEMPORAL_NAMESPACE
DENIED_FAST = 1.5
"""A refusal must come at once (seconds): the front decides before Temporal is asked."""
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Probe:
    """One attempted call and when the contract allows it."""

    name: str
    service: str
    method: str
    request: Any
    allowed: Rule
    timeout: float = 5.0


def _never(_: TemporalAccess) -> bool:
    return False


Rule = Callable[[TemporalAccess], bool]


def _polls_workflow(queue: str) -> Rule:
    return lambda a: queue in a.poll_workflow_queues


def _polls_activity(queue: str) -> Rule:
    return lambda a: queue in a.poll_activity_queues


def _is(name: str, caller: str) -> Rule:
    return lambda _: name == caller


def _describes(queue: str) -> Rule:
    return lambda a: queue in a.describe_queues


def _starts(grant: temporal_access.WorkflowGrant) -> Rule:
    return lambda a: grant in a.start


def _reads(grant: temporal_access.WorkflowGrant) -> Rule:
    return lambda a: grant in a.read


def _signals(name: str) -> Rule:
    return lambda a: any(name in g.signals for g in a.send)


def _updates(name: str) -> Rule:
    return lambda a: any(name in g.updates for g in a.send)


def _queries(name: str) -> Rule:
    return lambda a: any(name in g.queries for g in a.query)


def _manages(access: TemporalAccess) -> bool:
    return access.manage_deployments


def _shuts_down(queue: str) -> Rule:
    # Workflow pollers' housekeeping names sticky queues; an activity poller its own queue.
    return lambda a: bool(a.poll_workflow_queues) or queue in a.poll_activity_queues


def _shutdown(queue: str, sticky: str = "") -> wsv1.ShutdownWorkerRequest:
    # A worker instance nobody runs: Temporal has nothing to shut down, no real poller is hit.
    return wsv1.ShutdownWorkerRequest(
        namespace=NS,
        sticky_task_queue=sticky,
        task_queue=queue,
        worker_instance_key=f"matrix-{uuid.uuid4().hex[:8]}",
        worker_heartbeat=WorkerHeartbeat(task_queue=queue),
    )


def _tq(name: str, sticky_of: str | None = None) -> TaskQueue:
    if sticky_of is None:
        return TaskQueue(name=name, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL)
    return TaskQueue(name=name, kind=TaskQueueKind.TASK_QUEUE_KIND_STICKY, normal_name=sticky_of)


def _wf(workflow_id: str) -> WorkflowExecution:
    return WorkflowExecution(workflow_id=workflow_id)


def probes(tokens: TokenBinding, caller: Identity | str) -> Iterator[Probe]:
    """Every call of the matrix, for one caller (task tokens are bound to someone).

    Args:
        tokens: The front's task-token binding (a token handed to someone is made with it).
        caller: The identity (or another principal, by its certificate's CN) calling.
    """
    ws = WORKFLOW_SERVICE
    name = caller if isinstance(caller, str) else caller.name
    missing = f"{api.ORDER_ID_PREFIX}matrix-{uuid.uuid4().hex[:8]}"
    for ident in identities.workers():
        q = ident.task_queue
        if ident.kind is identities.Kind.WORKFLOW:
            # Its own queue is probed through a sticky queue of it: no real task is taken.
            sticky = f"matrix-sticky-{uuid.uuid4().hex[:8]}"
            yield Probe(
                f"poll workflow queue {q} (sticky)",
                ws,
                "PollWorkflowTaskQueue",
                wsv1.PollWorkflowTaskQueueRequest(namespace=NS, task_queue=_tq(sticky, q)),
                _polls_workflow(q),
                POLL_SECONDS,
            )
            if name != ident.name:
                yield Probe(
                    f"poll workflow queue {q}",
                    ws,
                    "PollWorkflowTaskQueue",
                    wsv1.PollWorkflowTaskQueueRequest(namespace=NS, task_queue=_tq(q)),
                    _polls_workflow(q),
                    POLL_SECONDS,
                )
        else:
            yield Probe(
                f"poll activity queue {q}",
                ws,
                "PollActivityTaskQueue",
                wsv1.PollActivityTaskQueueRequest(namespace=NS, task_queue=_tq(q)),
                _polls_activity(q),
                POLL_SECONDS,
            )
        # A well-formed token handed to ``ident`` (for a task that does not exist): only
        # ``ident`` itself gets past the front, and Temporal then refuses the unknown task.
        bound = tokens.wrap(ident.name, b"\x0a\x24" + uuid.uuid4().bytes * 2 + b"\x00" * 4)
        yield Probe(
            f"complete an activity task handed to {ident.name}",
            ws,
            "RespondActivityTaskCompleted",
            wsv1.RespondActivityTaskCompletedRequest(namespace=NS, task_token=bound),
            _is(ident.name, name),
        )
        yield Probe(
            f"report a worker shutdown on {q}",
            ws,
            "ShutdownWorker",
            _shutdown(q),
            _shuts_down(q),
        )
        # The backlog (KEDA's scaler): its own grant, not a side effect of polling.
        queue_type = (
            TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
            if ident.kind is identities.Kind.WORKFLOW
            else TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
        )
        yield Probe(
            f"describe task queue {q}",
            ws,
            "DescribeTaskQueue",
            wsv1.DescribeTaskQueueRequest(
                namespace=NS, task_queue=_tq(q), task_queue_type=queue_type, report_stats=True
            ),
            _describes(q),
        )
    yield Probe(
        "release a sticky queue",
        ws,
        "ShutdownWorker",
        _shutdown("", sticky=f"matrix-sticky-{uuid.uuid4().hex[:8]}"),
        lambda a: bool(a.poll_workflow_queues),
    )
    yield Probe(
        "describe a queue nobody polls",
        ws,
        "DescribeTaskQueue",
        wsv1.DescribeTaskQueueRequest(
            namespace=NS, task_queue=_tq(f"matrix-{uuid.uuid4().hex[:8]}")
        ),
        _never,
    )
    for grant in temporal_access.all_workflow_grants():
        bad_timeout = Duration(seconds=-1)  # admitted by the front, refused by Temporal
        yield Probe(
            f"start {grant.workflow_type}",
            ws,
            "StartWorkflowExecution",
            wsv1.StartWorkflowExecutionRequest(
                namespace=NS,
                workflow_id=f"{grant.id_prefix}matrix-{uuid.uuid4().hex[:8]}",
                workflow_type=WorkflowType(name=grant.workflow_type),
                task_queue=_tq(grant.task_queue),
                workflow_run_timeout=bad_timeout,
                request_id=str(uuid.uuid4()),
            ),
            _starts(grant),
        )
        yield Probe(
            f"start {grant.workflow_type} on another queue",
            ws,
            "StartWorkflowExecution",
            wsv1.StartWorkflowExecutionRequest(
                namespace=NS,
                workflow_id=f"{grant.id_prefix}matrix-{uuid.uuid4().hex[:8]}",
                workflow_type=WorkflowType(name=grant.workflow_type),
                task_queue=_tq(identities.ORDER_PROCESS_PAYMENT.task_queue),
                workflow_run_timeout=bad_timeout,
            ),
            _never,
        )
        for signal in (*grant.signals, "matrix-signal"):
            yield Probe(
                f"signal {signal}",
                ws,
                "SignalWorkflowExecution",
                wsv1.SignalWorkflowExecutionRequest(
                    namespace=NS, workflow_execution=_wf(missing), signal_name=signal
                ),
                _signals(signal),
            )
        for update in (*grant.updates, "matrix-update"):
            yield Probe(
                f"update {update}",
                ws,
                "UpdateWorkflowExecution",
                wsv1.UpdateWorkflowExecutionRequest(
                    namespace=NS,
                    workflow_execution=_wf(missing),
                    request=Request(input=Input(name=update)),
                ),
                _updates(update),
            )
        for query in grant.queries:
            yield Probe(
                f"query {query}",
                ws,
                "QueryWorkflow",
                wsv1.QueryWorkflowRequest(
                    namespace=NS,
                    execution=_wf(missing),
                    query=WorkflowQuery(query_type=query),
                ),
                _queries(query),
            )
        yield Probe(
            "read a history",
            ws,
            "GetWorkflowExecutionHistory",
            wsv1.GetWorkflowExecutionHistoryRequest(namespace=NS, execution=_wf(missing)),
            _reads(grant),
        )
    yield Probe(
        "list workflows",
        ws,
        "ListWorkflowExecutions",
        wsv1.ListWorkflowExecutionsRequest(namespace=NS, page_size=1),
        lambda a: a.list,
    )
    # The rollout: a worker that could make its own version current would get every new
    # order (a build id nobody polled with: Temporal answers NOT_FOUND, nothing changes).
    deployment = identities.ORDER_WORKFLOW.worker_deployment
    yield Probe(
        "make a worker deployment version current", ws, "SetWorkerDeploymentCurrentVersion",
        wsv1.SetWorkerDeploymentCurrentVersionRequest(
            namespace=NS, deployment_name=deployment, build_id=f"matrix-{uuid.uuid4().hex[:8]}"
        ),
        _manages,
    )  # fmt: skip
    yield Probe(
        "describe a worker deployment", ws, "DescribeWorkerDeployment",
        wsv1.DescribeWorkerDeploymentRequest(namespace=NS, deployment_name=deployment),
        _manages,
    )  # fmt: skip
    yield Probe(
        "list worker deployments", ws, "ListWorkerDeployments",
        wsv1.ListWorkerDeploymentsRequest(namespace=NS, page_size=1), _manages,
    )  # fmt: skip
    yield Probe(
        "describe the namespace", ws, "DescribeNamespace",
        wsv1.DescribeNamespaceRequest(namespace=NS), lambda a: True,
    )  # fmt: skip
    never = [
        ("RespondActivityTaskCompletedById", wsv1.RespondActivityTaskCompletedByIdRequest),
        ("RespondActivityTaskFailedById", wsv1.RespondActivityTaskFailedByIdRequest),
        ("RespondActivityTaskCanceledById", wsv1.RespondActivityTaskCanceledByIdRequest),
        ("RecordActivityTaskHeartbeatById", wsv1.RecordActivityTaskHeartbeatByIdRequest),
        ("TerminateWorkflowExecution", wsv1.TerminateWorkflowExecutionRequest),
        ("ResetWorkflowExecution", wsv1.ResetWorkflowExecutionRequest),
        ("DeleteWorkflowExecution", wsv1.DeleteWorkflowExecutionRequest),
        ("RequestCancelWorkflowExecution", wsv1.RequestCancelWorkflowExecutionRequest),
        ("SignalWithStartWorkflowExecution", wsv1.SignalWithStartWorkflowExecutionRequest),
        ("UpdateNamespace", wsv1.UpdateNamespaceRequest),
        ("DeprecateNamespace", wsv1.DeprecateNamespaceRequest),
        ("RegisterNamespace", wsv1.RegisterNamespaceRequest),
        ("ListNamespaces", wsv1.ListNamespacesRequest),
        # Versioning writes beyond "make a version current", and moving a pinned run.
        ("SetWorkerDeploymentRampingVersion", wsv1.SetWorkerDeploymentRampingVersionRequest),
        ("DeleteWorkerDeploymentVersion", wsv1.DeleteWorkerDeploymentVersionRequest),
        ("DeleteWorkerDeployment", wsv1.DeleteWorkerDeploymentRequest),
        ("SetWorkerDeploymentManager", wsv1.SetWorkerDeploymentManagerRequest),
        ("UpdateWorkflowExecutionOptions", wsv1.UpdateWorkflowExecutionOptionsRequest),
    ]
    for method, cls in never:
        yield Probe(method, ws, method, cls(namespace=NS) if method != "ListNamespaces" else cls(),
                    _never)  # fmt: skip
    yield Probe(
        "describe another namespace", ws, "DescribeNamespace",
        wsv1.DescribeNamespaceRequest(namespace="temporal-system"), _never,
    )  # fmt: skip
    yield Probe(
        "operator: delete the namespace", OPERATOR_SERVICE, "DeleteNamespace",
        opv1.DeleteNamespaceRequest(namespace=NS), _never,
    )  # fmt: skip


def channel(
    target: str, ca_file: str | Path, server_name: str, cert: certs.IssuedCert | None
) -> grpc.aio.Channel:
    """A gRPC channel verifying ``server_name`` against the CA, presenting ``cert`` (mTLS).

    With ``cert`` None the channel is TLS without a client certificate (the persons' port).
    """
    ca = Path(ca_file).read_bytes()
    if cert is None:
        creds = grpc.ssl_channel_credentials(ca)
    else:
        creds = grpc.ssl_channel_credentials(ca, cert.private_key.encode(), cert.fullchain.encode())
    return grpc.aio.secure_channel(
        target, creds, options=[("grpc.ssl_target_name_override", server_name)]
    )


def wrong_answers(
    access: TemporalAccess, probes: list[Probe], answers: list[tuple[grpc.StatusCode, float]]
) -> list[str]:
    """Every probe whose answer differs from the contract's (empty: all as it says)."""
    wrong = []
    for probe, (code, seconds) in zip(probes, answers, strict=True):
        denied = code is grpc.StatusCode.PERMISSION_DENIED
        if probe.allowed(access) == denied or code is grpc.StatusCode.UNAUTHENTICATED:
            wrong.append(f"{probe.name}: {code.name} (contract: allowed={probe.allowed(access)})")
        elif denied and seconds > DENIED_FAST:
            wrong.append(f"{probe.name}: refused only after {seconds:.1f}s")
    return wrong


async def attempt(
    channel: grpc.aio.Channel, probe: Probe, bearer: str | None = None
) -> tuple[grpc.StatusCode, float]:
    """The status Temporal (or the front) answers ``probe`` with, and how long it took.

    ``bearer`` is sent as ``authorization: Bearer …`` (a JWT), as SDK clients send theirs.
    """
    call: grpc.aio.UnaryUnaryMultiCallable[Any, bytes] = channel.unary_unary(
        f"/{probe.service}/{probe.method}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=lambda b: b,
    )
    started = time.monotonic()
    try:
        metadata = (("authorization", f"Bearer {bearer}"),) if bearer else None
        await call(probe.request, timeout=probe.timeout, metadata=metadata)
        code = grpc.StatusCode.OK
    except grpc.aio.AioRpcError as err:
        code = err.code()
    return code, time.monotonic() - started


def holdings(vault: hvac.Client, identity: Identity) -> certs.IssuedCert:
    """What ``identity``'s worker holds at Temporal: a certificate from its own Vault login.

    Args:
        vault: A client logged in as ``identity`` (its own projected token); revoked here.
        identity: Whose certificate.
    """
    try:
        return certs.issue_client(vault, identity)
    finally:
        vault.auth.token.revoke_self()
