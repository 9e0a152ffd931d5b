"""The front's decisions, call by call, against the contract's access."""

from __future__ import annotations

import pytest
from temporalio.api.common.v1 import WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import TaskQueueKind
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.update.v1 import Input, Request
from temporalio.api.worker.v1 import WorkerHeartbeat
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsv1

from orders.contract import identities, temporal_access
from orders.contract.temporal_access import TemporalAccess
from orders.front.decide import decide

NS = identities.TEMPORAL_NAMESPACE
CLIENT = temporal_access.temporal_access(identities.ORDER_CLIENT)
WORKFLOW = temporal_access.temporal_access(identities.ORDER_WORKFLOW)
NOTIFY = temporal_access.temporal_access(identities.ORDER_NOTIFY)
ORDER = "order-42"


def _poll_activity(queue: str) -> wsv1.PollActivityTaskQueueRequest:
    return wsv1.PollActivityTaskQueueRequest(namespace=NS, task_queue=TaskQueue(name=queue))


def _start(wtype: str, queue: str, wid: str) -> wsv1.StartWorkflowExecutionRequest:
    return wsv1.StartWorkflowExecutionRequest(
        namespace=NS,
        workflow_id=wid,
        workflow_type=WorkflowType(name=wtype),
        task_queue=TaskQueue(name=queue),
    )


def test_a_worker_polls_its_own_queue_only() -> None:
    assert decide(NOTIFY, NS, "PollActivityTaskQueue", _poll_activity("order-notify")).allowed
    refused = decide(NOTIFY, NS, "PollActivityTaskQueue", _poll_activity("order-process-payment"))
    assert not refused.allowed
    assert "order-process-payment" in refused.reason


def test_sticky_queues_count_by_their_normal_name() -> None:
    def sticky(normal: str) -> wsv1.PollWorkflowTaskQueueRequest:
        tq = TaskQueue(name="host-1", kind=TaskQueueKind.TASK_QUEUE_KIND_STICKY, normal_name=normal)
        return wsv1.PollWorkflowTaskQueueRequest(namespace=NS, task_queue=tq)

    assert decide(WORKFLOW, NS, "PollWorkflowTaskQueue", sticky("order-workflow")).allowed
    assert not decide(NOTIFY, NS, "PollWorkflowTaskQueue", sticky("order-workflow")).allowed
    assert not decide(WORKFLOW, NS, "PollWorkflowTaskQueue", sticky("other")).allowed


def test_an_activity_worker_cannot_take_workflow_tasks() -> None:
    req = wsv1.PollWorkflowTaskQueueRequest(
        namespace=NS, task_queue=TaskQueue(name="order-workflow")
    )
    assert not decide(NOTIFY, NS, "PollWorkflowTaskQueue", req).allowed


def test_the_client_starts_only_its_workflows_on_their_queue() -> None:
    ok = decide(
        CLIENT, NS, "StartWorkflowExecution", _start("OrderWorkflow", "order-workflow", ORDER)
    )
    assert ok.allowed
    assert ok.grant is not None
    for wtype, queue, wid in [
        ("OrderWorkflow", "order-notify", ORDER),
        ("Evil", "order-workflow", ORDER),
        ("OrderWorkflow", "order-workflow", "other-42"),
        ("OrderWorkflow", "order-workflow", "order-"),
    ]:
        assert not decide(CLIENT, NS, "StartWorkflowExecution", _start(wtype, queue, wid)).allowed
    assert not decide(
        NOTIFY, NS, "StartWorkflowExecution", _start("OrderWorkflow", "order-workflow", ORDER)
    ).allowed


def test_signals_and_updates_by_name() -> None:
    def signal(name: str) -> wsv1.SignalWorkflowExecutionRequest:
        return wsv1.SignalWorkflowExecutionRequest(
            namespace=NS, workflow_execution=WorkflowExecution(workflow_id=ORDER), signal_name=name
        )

    def update(name: str) -> wsv1.UpdateWorkflowExecutionRequest:
        return wsv1.UpdateWorkflowExecutionRequest(
            namespace=NS,
            workflow_execution=WorkflowExecution(workflow_id=ORDER),
            request=Request(input=Input(name=name)),
        )

    assert decide(CLIENT, NS, "SignalWorkflowExecution", signal("approval")).allowed
    assert not decide(CLIENT, NS, "SignalWorkflowExecution", signal("other")).allowed
    assert not decide(WORKFLOW, NS, "SignalWorkflowExecution", signal("approval")).allowed
    assert decide(CLIENT, NS, "UpdateWorkflowExecution", update("approve")).allowed
    assert not decide(NOTIFY, NS, "UpdateWorkflowExecution", update("approve")).allowed


def test_answering_tasks_needs_polling() -> None:
    req = wsv1.RespondActivityTaskCompletedRequest(namespace=NS, task_token=b"t")
    assert decide(NOTIFY, NS, "RespondActivityTaskCompleted", req).allowed  # token checked next
    assert not decide(CLIENT, NS, "RespondActivityTaskCompleted", req).allowed


def test_worker_heartbeats_only_for_polled_queues() -> None:
    def beat(queue: str) -> wsv1.RecordWorkerHeartbeatRequest:
        return wsv1.RecordWorkerHeartbeatRequest(
            namespace=NS, worker_heartbeat=[WorkerHeartbeat(task_queue=queue)]
        )

    assert decide(NOTIFY, NS, "RecordWorkerHeartbeat", beat("order-notify")).allowed
    assert not decide(NOTIFY, NS, "RecordWorkerHeartbeat", beat("order-workflow")).allowed
    assert not decide(CLIENT, NS, "RecordWorkerHeartbeat", beat("order-notify")).allowed


@pytest.mark.parametrize(
    "method",
    [
        "RespondActivityTaskCompletedById",
        "TerminateWorkflowExecution",
        "ResetWorkflowExecution",
        "DeleteWorkflowExecution",
        "SignalWithStartWorkflowExecution",
        "UpdateNamespace",
        "ExecuteMultiOperation",
    ],
)
def test_never_allowed(method: str) -> None:
    everything = TemporalAccess(
        poll_workflow_queues=("order-workflow",),
        start=temporal_access.all_workflow_grants(),
        send=temporal_access.all_workflow_grants(),
        list=True,
        register_namespace=True,
    )
    assert not decide(everything, NS, method, object()).allowed


def test_other_namespaces_are_refused() -> None:
    req = wsv1.DescribeNamespaceRequest(namespace="temporal-system")
    assert not decide(CLIENT, NS, "DescribeNamespace", req).allowed
    assert decide(
        NOTIFY, NS, "DescribeNamespace", wsv1.DescribeNamespaceRequest(namespace=NS)
    ).allowed


def _describe(queue: str, sticky: bool = False) -> wsv1.DescribeTaskQueueRequest:
    kind = TaskQueueKind.TASK_QUEUE_KIND_STICKY if sticky else TaskQueueKind.TASK_QUEUE_KIND_NORMAL
    return wsv1.DescribeTaskQueueRequest(
        namespace=NS, task_queue=TaskQueue(name=queue, kind=kind), report_stats=True
    )


def test_keda_describes_the_workers_queues_and_nothing_else() -> None:
    keda = temporal_access.keda_access()
    for ident in identities.workers():
        assert decide(keda, NS, "DescribeTaskQueue", _describe(ident.task_queue)).allowed
        assert not decide(keda, NS, "DescribeTaskQueue", _describe("x", sticky=True)).allowed
        # Nobody else reads a backlog: not the worker that polls it, not the client.
        for other in (CLIENT, NOTIFY, WORKFLOW):
            assert not decide(other, NS, "DescribeTaskQueue", _describe(ident.task_queue)).allowed
    assert not decide(keda, NS, "DescribeTaskQueue", _describe("order-client")).allowed
    assert not decide(keda, NS, "PollActivityTaskQueue", _poll_activity("order-notify")).allowed
    other_ns = wsv1.DescribeTaskQueueRequest(namespace="temporal-system")
    assert not decide(keda, NS, "DescribeTaskQueue", other_ns).allowed


ADMIN = temporal_access.temporal_admin_access()
PROMOTE = wsv1.SetWorkerDeploymentCurrentVersionRequest(
    namespace=NS, deployment_name=identities.ORDER_WORKFLOW.worker_deployment, build_id="v2"
)


@pytest.mark.parametrize("identity", identities.ALL, ids=lambda i: i.name)
def test_no_identity_makes_a_version_current(identity: identities.Identity) -> None:
    # A worker that could would route every new order to its own code.
    access = temporal_access.temporal_access(identity)
    verdict = decide(access, NS, "SetWorkerDeploymentCurrentVersion", PROMOTE)
    assert not verdict.allowed
    assert "SetWorkerDeploymentCurrentVersion" in verdict.reason


def test_the_operator_promotes_and_describes_but_ramps_and_deletes_nothing() -> None:
    assert decide(ADMIN, NS, "SetWorkerDeploymentCurrentVersion", PROMOTE).allowed
    for method, request in (
        ("DescribeWorkerDeployment", wsv1.DescribeWorkerDeploymentRequest(namespace=NS)),
        ("DescribeWorkerDeploymentVersion", wsv1.DescribeWorkerDeploymentVersionRequest()),
        ("ListWorkerDeployments", wsv1.ListWorkerDeploymentsRequest(namespace=NS)),
    ):
        assert decide(ADMIN, NS, method, request).allowed, method
        assert not decide(WORKFLOW, NS, method, request).allowed, method
    for method in (
        "SetWorkerDeploymentRampingVersion",
        "DeleteWorkerDeploymentVersion",
        "DeleteWorkerDeployment",
        "UpdateWorkflowExecutionOptions",
    ):
        assert not decide(ADMIN, NS, method, None).allowed, method
    other = wsv1.SetWorkerDeploymentCurrentVersionRequest(namespace="billing", build_id="v2")
    assert not decide(ADMIN, NS, "SetWorkerDeploymentCurrentVersion", other).allowed


def test_an_activity_worker_may_say_it_shuts_down_about_its_own_queue_only() -> None:
    def shutdown(queue: str, sticky: str = "") -> wsv1.ShutdownWorkerRequest:
        return wsv1.ShutdownWorkerRequest(
            namespace=NS,
            sticky_task_queue=sticky,
            task_queue=queue,
            worker_heartbeat=WorkerHeartbeat(task_queue=queue),
        )

    assert decide(NOTIFY, NS, "ShutdownWorker", shutdown("order-notify")).allowed
    for refused in (
        shutdown("order-process-payment"),
        shutdown("order-notify", sticky="order-workflow-sticky-1"),
    ):
        assert not decide(NOTIFY, NS, "ShutdownWorker", refused).allowed
    # A sticky queue is a workflow worker's; an activity worker never resets one.
    reset = wsv1.ResetStickyTaskQueueRequest(namespace=NS)
    assert not decide(NOTIFY, NS, "ResetStickyTaskQueue", reset).allowed
    assert not decide(CLIENT, NS, "ShutdownWorker", shutdown("")).allowed
    assert decide(WORKFLOW, NS, "ShutdownWorker", shutdown("", sticky="s")).allowed
