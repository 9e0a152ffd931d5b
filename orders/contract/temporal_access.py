"""What each identity (and each person's role) may ask of Temporal.

Enforced by the authorization front (:mod:`orders.front`), whose rules file is rendered from
:func:`temporal_access` and :func:`people_temporal_access`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from orders.contract.api import (
    APPROVAL_SIGNAL,
    APPROVE_UPDATE,
    ORDER_ID_PREFIX,
    ORDER_WORKFLOW_TYPE,
    STATUS_QUERY,
)
from orders.contract.identities import ALL, TEMPORAL_NAMESPACE, Identity, Kind

TEMPORAL_TOKEN_KEY: Final = "orders-machines"  # noqa: S105 - a key's name, not a secret
"""OpenBao identity-token key signing every identity's Temporal JWT (RS256; its public part
is served at ``identity/oidc/.well-known/keys``, which the Temporal server reads)."""
TEMPORAL_AUDIENCE_PREFIX: Final = "temporal:"
"""Prefix of machine tokens' audiences. OpenBao generates OIDC client ids (people's token
audiences) without a colon, so no person's token can carry a machine audience."""


def temporal_audience(principal: str) -> str:
    """The ``aud`` of ``principal``'s own Temporal JWT (an identity or ``temporal-admin``).

    The front accepts a machine token on the identities' port only from the principal whose
    certificate it was minted for (``aud`` = this), so tokens are not interchangeable.
    """
    return TEMPORAL_AUDIENCE_PREFIX + principal


WORKER_TEMPORAL_ROLE: Final = "write"
"""Temporal role in workers' JWTs. Not ``worker``: Temporal's ``default`` authorizer (the one
an authorizing server here runs) grants the ``worker`` role nothing; polling and completing
tasks need ``write`` (temporal#1862). ``worker`` becomes right only with an authorizer that
admits it to the task APIs; then this one constant changes."""


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


@dataclass(frozen=True)
class WorkflowGrant:
    """A workflow type an identity runs, and what others may send it.

    Attributes:
        workflow_type: Registered workflow type name.
        task_queue: The queue it runs on (its workflow identity's).
        id_prefix: Every workflow id of this type starts with it; signal, update and query
            grants are checked against it (a request names a workflow id, not a type).
        signals: Signal names callers may send.
        updates: Update names callers may send.
        queries: Query names callers may ask.
    """

    workflow_type: str
    task_queue: str
    id_prefix: str
    signals: tuple[str, ...] = ()
    updates: tuple[str, ...] = ()
    queries: tuple[str, ...] = ()


def workflow_grant(identity: Identity) -> WorkflowGrant | None:
    """The workflow ``identity`` runs (workflow identities only).

    ``order-workflow`` runs :data:`ORDER_WORKFLOW_TYPE` with ids ``order-<order id>`` and
    the approval handlers; a generated ``<base>-workflow`` runs ``<Base>Workflow`` with ids
    ``<identity>-<order id>`` and no handlers (``orders new workflow``).
    """
    if identity.kind is not Kind.WORKFLOW:
        return None
    if identity.name == "order-workflow":
        return WorkflowGrant(
            ORDER_WORKFLOW_TYPE,
            identity.task_queue,
            ORDER_ID_PREFIX,
            signals=(APPROVAL_SIGNAL,),
            updates=(APPROVE_UPDATE,),
            queries=(STATUS_QUERY,),
        )
    return WorkflowGrant(
        _camel(identity.name.removesuffix("-workflow")) + "Workflow",
        identity.task_queue,
        identity.name + "-",
    )


@dataclass(frozen=True)
class TemporalAccess:
    """The Temporal calls a principal may make, beyond the harmless ones.

    The harmless ones: system info, describing its own namespace. Anything not granted
    here is refused by the front.

    Attributes:
        poll_workflow_queues: Workflow task queues it may poll (and their sticky queues).
            Answering a task it polled needs no further grant; answering any other does
            not exist (the front binds each task token to its poller).
        poll_activity_queues: Activity task queues it may poll.
        start: Workflows it may start (type on its queue, id under its prefix).
        send: Workflows whose signals and updates it may send.
        query: Workflows whose queries it may ask.
        read: Workflows it may describe and whose history it may read.
        list: Whether it may list and count the namespace's workflows (visibility).
        register_namespace: The one setup step that registers the namespace.
        describe_queues: Task queues whose backlog it may read (``DescribeTaskQueue``):
            the autoscaler's one grant (:func:`keda_access`).
        manage_deployments: Whether it may make a Worker Deployment version current and
            describe and list worker deployments (the operator's rollout; never a worker:
            a worker that could promote itself would receive every new order).
    """

    poll_workflow_queues: tuple[str, ...] = ()
    poll_activity_queues: tuple[str, ...] = ()
    start: tuple[WorkflowGrant, ...] = ()
    send: tuple[WorkflowGrant, ...] = ()
    query: tuple[WorkflowGrant, ...] = ()
    read: tuple[WorkflowGrant, ...] = ()
    list: bool = False
    register_namespace: bool = False
    describe_queues: tuple[str, ...] = ()
    manage_deployments: bool = False


def all_workflow_grants() -> tuple[WorkflowGrant, ...]:
    """Every workflow of the contract."""
    return tuple(g for g in (workflow_grant(i) for i in ALL) if g is not None)


def temporal_access(identity: Identity) -> TemporalAccess:
    """What ``identity`` may do at Temporal: least privilege, derived from what it runs.

    A workflow worker polls its workflow queue and reads its own workflows' histories (a
    worker whose cache missed fetches the rest of a long history); an activity worker
    polls its activity queue and nothing else; the client starts every workflow of the
    contract, sends their handlers and reads them. The migrate identity and the codec
    server never call Temporal.
    """
    if identity.kind is Kind.WORKFLOW:
        grant = workflow_grant(identity)
        assert grant is not None
        return TemporalAccess(poll_workflow_queues=(identity.task_queue,), read=(grant,))
    if identity.kind is Kind.ACTIVITY:
        return TemporalAccess(poll_activity_queues=(identity.task_queue,))
    if identity.kind is Kind.CLIENT:
        grants = all_workflow_grants()
        return TemporalAccess(start=grants, send=grants, query=grants, read=grants, list=True)
    if identity.kind is Kind.OPERATOR:
        # The customer eraser asks whether a customer's orders are still running: describe.
        return TemporalAccess(read=all_workflow_grants())
    return TemporalAccess()


def people_temporal_access(role: str) -> TemporalAccess:
    """What a person holding ``<namespace>:<role>`` may do through the front.

    ``read``: look (describe, history, list, queries); ``write`` (and ``admin``, which
    implies it): also start orders and send approvals, as the client does. Nobody polls,
    answers tasks, terminates, resets or administers the namespace through the front.
    """
    grants = all_workflow_grants()
    looking = TemporalAccess(query=grants, read=grants, list=True)
    if role == "read":
        return looking
    if role in ("write", "admin"):
        return TemporalAccess(start=grants, send=grants, query=grants, read=grants, list=True)
    return TemporalAccess()


def keda_access() -> TemporalAccess:
    """What KEDA's Temporal scaler may do: read the workers' queues' backlog, nothing else.

    Its scaler (``temporal``, KEDA ≥ 2.17, unversioned mode) calls ``DescribeTaskQueue``
    with ``report_stats`` for each configured queue type, after the SDK's connect
    (``GetSystemInfo``); it never polls, starts, signals, queries or reads a history.
    """
    return TemporalAccess(describe_queues=tuple(i.task_queue for i in ALL if i.is_worker))


def temporal_permissions(identity: Identity) -> tuple[str, ...]:
    """Temporal permissions (``<namespace>:<role>``) in ``identity``'s own JWT; least privilege.

    Workers poll their queue and complete its tasks (:data:`WORKER_TEMPORAL_ROLE`). The
    client starts workflows and sends approvals (``write``). Nobody else calls Temporal: no
    token at all. Neither gets ``admin`` (namespace and operator APIs).
    """
    if identity.is_worker:
        return (f"{TEMPORAL_NAMESPACE}:{WORKER_TEMPORAL_ROLE}",)
    if identity.kind is Kind.CLIENT:
        return (f"{TEMPORAL_NAMESPACE}:write",)
    if identity.kind is Kind.OPERATOR:
        return (f"{TEMPORAL_NAMESPACE}:read",)
    return ()


TEMPORAL_ADMIN_TOKEN_ROLE: Final = "temporal-admin"  # noqa: S105 - a role's name, not a secret
"""Identity-token role (``identity/oidc/role/temporal-admin``), Vault policy and token role
of the one-shot step that registers the namespace on an authorizing Temporal server. No
identity of the contract holds it: only the deployment's setup step, with the root token,
mints a minutes-long Vault token carrying just this policy, reads one JWT, and revokes it."""


def temporal_admin_access() -> TemporalAccess:
    """What the ``temporal-admin`` principal (the operator's seat, minutes-long) may do.

    Register the namespace (the deployment's setup step) and roll workers out: make a
    Worker Deployment version current, describe and list deployments. Nothing else, and no
    identity holds it: a worker that could set the current version would route every new
    order to its own code.
    """
    return TemporalAccess(register_namespace=True, manage_deployments=True)


def temporal_admin_permissions() -> tuple[str, ...]:
    """Permissions of the namespace-registration JWT: admin of the application namespace.

    ``RegisterNamespace`` is namespace-scoped with admin access in Temporal's method
    metadata, so the ``default`` authorizer admits ``<namespace>:admin``; ``system:admin``
    (every namespace, cluster APIs) is not needed. The server's search attributes are not
    touched (the project sets none).
    """
    return (f"{TEMPORAL_NAMESPACE}:admin",)


def temporal_token_identities() -> Iterator[Identity]:
    """Identities that present their own JWT to Temporal."""
    return (i for i in ALL if temporal_permissions(i))
