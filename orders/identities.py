"""The identity contract: one name per identity, used everywhere.

Task queue, Kubernetes ServiceAccount, Vault Kubernetes-auth role, Vault policy, Vault
database role, Postgres group role, Deployment and log label of an identity are all
derived from the entries below. Nothing else in the project spells these names: Vault
configuration, manifests and tests are generated from this module or checked against it.

The table grants here are the *intent*. The alembic migrations contain the literal
``GRANT`` statements, and the privilege-matrix test compares what Postgres actually allows
each Vault-issued role with what this module says, so widening either side alone fails.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

K8S_NAMESPACE: Final = "orders"
"""Kubernetes namespace every ServiceAccount lives in (bound by each Vault role)."""

VAULT_AUDIENCE: Final = "vault"
"""Audience of the projected ServiceAccount tokens that Vault accepts."""

TEMPORAL_NAMESPACE: Final = "orders"
"""Temporal namespace the workflows run in."""

DB_NAME: Final = "orders"
DB_SCHEMA: Final = "orders"
VAULT_DB_CONNECTION: Final = "orders"
"""Name of the connection configured in Vault's database secrets engine."""

VAULT_DB_ADMIN_ROLE: Final = "vault_dbadmin"
"""Postgres role Vault's database plugin logs in as (CREATEROLE, never superuser)."""

DB_EVIDENCE_ROLE: Final = "orders_evidence"
"""Read-only Postgres role of the demo's evidence queries (who wrote a row, live sessions):
SELECT on the key and ``written_by`` columns only; a login only where a deployment gives it a
password (kind), else NOLOGIN. Not an identity: no Vault role, no worker."""


class Privilege(enum.StrEnum):
    """Table privileges the matrix test exercises."""

    SELECT = "SELECT"
    INSERT = "INSERT"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    TRUNCATE = "TRUNCATE"


class Kind(enum.StrEnum):
    """What an identity runs."""

    WORKFLOW = "workflow"
    ACTIVITY = "activity"
    MIGRATE = "migrate"
    CLIENT = "client"
    CODEC = "codec"


@dataclass(frozen=True)
class TableGrant:
    """Privileges of one identity on one table.

    Attributes:
        table: Table name in the application schema.
        privileges: Table-wide privileges.
        columns: Column-level privileges: privilege -> the only columns it covers.
    """

    table: str
    privileges: frozenset[Privilege] = frozenset()
    columns: tuple[tuple[Privilege, tuple[str, ...]], ...] = ()

    def allows(self, privilege: Privilege, column: str | None = None) -> bool:
        """Whether this grant allows ``privilege`` (on ``column`` if given, else anywhere)."""
        if privilege in self.privileges:
            return True
        for priv, cols in self.columns:
            if priv is privilege and (column is None or column in cols):
                return True
        return False

    def columns_for(self, privilege: Privilege) -> tuple[str, ...] | None:
        """Columns a column-level grant of ``privilege`` covers, or None if there is none."""
        for priv, cols in self.columns:
            if priv is privilege:
                return cols
        return None


def grant(table: str, *privileges: Privilege, **columns: tuple[str, ...]) -> TableGrant:
    """Build a TableGrant: ``grant("orders", SELECT=("id", "total_cents"))``."""
    return TableGrant(
        table=table,
        privileges=frozenset(privileges),
        columns=tuple((Privilege(p), cols) for p, cols in columns.items()),
    )


@dataclass(frozen=True)
class Identity:
    """One runtime identity and everything named after it.

    Attributes:
        name: The one name (lowercase, hyphenated).
        kind: What it runs.
        activities: Activity names it registers (activity identities only).
        grants: Postgres privileges of its group role; empty means no database role at all.
        summary: One line for docs and the demo's evidence tables.
        owns_schema: Whether its group owns the schema objects (the migrate identity).
        workflow: For an activity identity made by ``orders new activity --workflow``: the
            workflow identity whose generated workflow runs its activities as steps.
    """

    name: str
    kind: Kind
    activities: tuple[str, ...] = ()
    grants: tuple[TableGrant, ...] = ()
    summary: str = ""
    owns_schema: bool = field(default=False)
    workflow: str = ""

    @property
    def task_queue(self) -> str:
        """Temporal task queue this identity polls."""
        return self.name

    @property
    def service_account(self) -> str:
        """Kubernetes ServiceAccount name."""
        return self.name

    @property
    def vault_role(self) -> str:
        """Vault Kubernetes-auth role name."""
        return self.name

    @property
    def vault_policy(self) -> str:
        """Vault policy name (file ``vault/policies/<name>.hcl``)."""
        return self.name

    @property
    def has_db_role(self) -> bool:
        """Whether Vault's database engine has a role for this identity."""
        return bool(self.grants) or self.owns_schema

    @property
    def db_role(self) -> str:
        """Vault database secrets engine role (``database/creds/<db_role>``)."""
        return self.name

    @property
    def temporal_token_role(self) -> str:
        """Identity-token role minting its Temporal JWT (``identity/oidc/role/<name>``).

        The identity reads a token at ``identity/oidc/token/<name>``.
        """
        return self.name

    @property
    def db_group(self) -> str:
        """Postgres NOLOGIN group role that holds this identity's grants."""
        return "grp_" + self.name.replace("-", "_")

    @property
    def is_worker(self) -> bool:
        """Whether a worker process runs under this identity."""
        return self.kind in (Kind.WORKFLOW, Kind.ACTIVITY)

    def grant_for(self, table: str) -> TableGrant | None:
        """This identity's grant on ``table``, if any."""
        for g in self.grants:
            if g.table == table:
                return g
        return None


S, INS, U = Privilege.SELECT, Privilege.INSERT, Privilege.UPDATE

# Column lists shared by several grants below (no table-wide grant where a list will do).
RUN_COLUMN: Final = "run_id"
"""Column of ``orders``, ``reservations`` and ``payments`` naming the Temporal workflow run
that wrote the row (from the activity's own ``activity.info()``, never from its input): a
retry of that run may answer from the row, any other run is refused, and compensations
touch only rows of their own run."""
STOCK_COLUMNS: Final = ("available", "reserved")
"""The only inventory columns anybody updates: stock, never a price, name or SKU."""
STOCK_READ_COLUMNS: Final = ("sku", *STOCK_COLUMNS)
"""What moving stock reads (the row's key and the stock it adjusts); no price, no name."""
ORDER_INSERT_COLUMNS: Final = (
    "id",
    "customer_id",
    "customer_email",
    "shipping_address",
    "total_cents",
    "currency",
    RUN_COLUMN,
)
"""What validate_order records; status, created_at and written_by come from the server."""
ORDER_RECORD_COLUMNS: Final = ("id", RUN_COLUMN, "total_cents", "currency")
"""What validate_order reads back on a retry: whose run recorded the order, and its amount."""
PAYMENT_READ_COLUMNS: Final = (
    "transaction_id",
    "order_id",
    "amount_cents",
    "currency",
    "status",
    RUN_COLUMN,
)
"""Payment columns the payment identities use (process_payment also inserts exactly these)."""

# Activity names, named once; the workflow schedules them by these names.
VALIDATE_ORDER: Final = "validate_order"
RESERVE_INVENTORY: Final = "reserve_inventory"
PROCESS_PAYMENT: Final = "process_payment"
REFUND_PAYMENT: Final = "refund_payment"
FULFILL_ORDER: Final = "fulfill_order"
NOTIFY_CUSTOMER: Final = "notify_customer"
RELEASE_INVENTORY: Final = "release_inventory"
LOAD_APPROVERS: Final = "load_approvers"

ORDER_WORKFLOW = Identity(
    "order-workflow", Kind.WORKFLOW, summary="runs OrderWorkflow; holds no database credential"
)
ORDER_VALIDATE = Identity(
    "order-validate",
    Kind.ACTIVITY,
    activities=(VALIDATE_ORDER,),
    grants=(
        grant("inventory", SELECT=("sku", "price_cents")),
        # Reads back only what a retry of its own run answers with (and whose run it was).
        grant("orders", SELECT=ORDER_RECORD_COLUMNS, INSERT=ORDER_INSERT_COLUMNS),
        grant("order_items", INSERT=("order_id", "sku", "quantity", "unit_price_cents")),
    ),
    summary="checks the order against the catalogue and records it",
)
ORDER_RESERVE_INVENTORY = Identity(
    "order-reserve-inventory",
    Kind.ACTIVITY,
    activities=(RESERVE_INVENTORY,),
    grants=(
        grant("inventory", SELECT=STOCK_READ_COLUMNS, UPDATE=STOCK_COLUMNS),
        grant(
            "reservations",
            SELECT=("order_id", "sku", "status", RUN_COLUMN),
            INSERT=("order_id", "sku", "quantity", "status", RUN_COLUMN),
        ),
    ),
    summary="holds stock for the order",
)
ORDER_PROCESS_PAYMENT = Identity(
    "order-process-payment",
    Kind.ACTIVITY,
    activities=(PROCESS_PAYMENT,),
    grants=(
        grant("orders", SELECT=("id", "total_cents", "currency", RUN_COLUMN)),
        grant("payments", SELECT=PAYMENT_READ_COLUMNS, INSERT=PAYMENT_READ_COLUMNS),
    ),
    summary="captures the payment (local simulator)",
)
ORDER_REFUND_PAYMENT = Identity(
    "order-refund-payment",
    Kind.ACTIVITY,
    activities=(REFUND_PAYMENT,),
    grants=(grant("payments", SELECT=PAYMENT_READ_COLUMNS, UPDATE=("status", "refunded_at")),),
    summary="compensation: refunds a captured payment",
)
ORDER_FULFILL = Identity(
    "order-fulfill",
    Kind.ACTIVITY,
    activities=(FULFILL_ORDER,),
    grants=(
        grant("orders", SELECT=("id", "shipping_address")),
        grant(
            "shipments",
            SELECT=("tracking_number", "order_id"),
            INSERT=("tracking_number", "order_id", "carrier"),
        ),
    ),
    summary="creates the shipment",
)
ORDER_NOTIFY = Identity(
    "order-notify",
    Kind.ACTIVITY,
    activities=(NOTIFY_CUSTOMER,),
    grants=(
        grant("orders", SELECT=("id", "customer_email")),
        grant("notifications", SELECT=("order_id", "kind"), INSERT=("order_id", "kind")),
    ),
    summary="tells the customer",
)
ORDER_RELEASE_INVENTORY = Identity(
    "order-release-inventory",
    Kind.ACTIVITY,
    activities=(RELEASE_INVENTORY,),
    grants=(
        grant("inventory", SELECT=STOCK_READ_COLUMNS, UPDATE=STOCK_COLUMNS),
        # Reads the run column to release only what its own run holds; flips status only.
        grant(
            "reservations",
            SELECT=("order_id", "sku", "quantity", "status", RUN_COLUMN),
            UPDATE=("status",),
        ),
    ),
    summary="compensation: returns held stock",
)
ORDER_APPROVALS = Identity(
    "order-approvals",
    Kind.ACTIVITY,
    activities=(LOAD_APPROVERS,),
    summary="loads the approver registry (public keys from Vault Transit); no database",
)
ORDER_MIGRATE = Identity(
    "order-migrate",
    Kind.MIGRATE,
    owns_schema=True,
    summary="runs alembic migrations; owns the schema objects (not a worker)",
)
ORDER_CLIENT = Identity(
    "order-client", Kind.CLIENT, summary="starts workflows and sends approvals (CLI/API)"
)
CODEC_SERVER = Identity("codec-server", Kind.CODEC, summary="decodes payloads for the UI")

# `orders new activity|workflow` inserts new identities above this line.

ALL: Final[tuple[Identity, ...]] = (
    ORDER_WORKFLOW,
    ORDER_VALIDATE,
    ORDER_RESERVE_INVENTORY,
    ORDER_PROCESS_PAYMENT,
    ORDER_REFUND_PAYMENT,
    ORDER_FULFILL,
    ORDER_NOTIFY,
    ORDER_RELEASE_INVENTORY,
    ORDER_APPROVALS,
    ORDER_MIGRATE,
    ORDER_CLIENT,
    CODEC_SERVER,
    # `orders new activity|workflow` appends new identities above this line.
)

BY_NAME: Final[dict[str, Identity]] = {i.name: i for i in ALL}

TABLES: Final[tuple[str, ...]] = (
    "orders",
    "order_items",
    "inventory",
    "reservations",
    "payments",
    "shipments",
    "notifications",
)
"""Every table of the application schema (the privilege matrix covers all of them)."""


TRANSIT_MOUNT: Final = "transit"
PAYLOAD_KEY: Final = "orders-payload"
"""Transit key (aes256-gcm96) wrapping the data keys that encrypt every Temporal payload."""


@dataclass(frozen=True)
class SealedField:
    """An order field sealed by the client to the one identity that needs it.

    Attributes:
        field: Field name in the order.
        key: Transit key wrapping the data keys it is sealed with.
        consumer: The only identity whose policy may decrypt it.
    """

    field: str
    key: str
    consumer: Identity


SEALED_FIELDS: Final[tuple[SealedField, ...]] = (
    SealedField("payment_reference", "field-payment", ORDER_PROCESS_PAYMENT),
    SealedField("shipping_address", "field-address", ORDER_FULFILL),
    SealedField("customer_email", "field-contact", ORDER_NOTIFY),
)


# --- Approvals ---------------------------------------------------------------------------

APPROVAL_THRESHOLD_CENTS: Final = 100_000
"""Orders whose total is above this (1,000.00 in the order's currency) wait for approval."""
DUAL_APPROVAL_THRESHOLD_CENTS: Final = 500_000
"""Above this (5,000.00) two distinct approvers must approve."""
APPROVAL_DEADLINE_SECONDS: Final = 3600
"""How long (workflow time) an order waits for approval before it is REJECTED."""
APPROVER_KEY_PREFIX: Final = "approver-"


def approver_key(name: str) -> str:
    """Transit key (ed25519, not exportable) an approver signs with: ``approver-<name>``.

    The same name is the approver's Vault policy (``transit/sign/<key>`` only).
    """
    return APPROVER_KEY_PREFIX + name


@dataclass(frozen=True)
class Approver:
    """A person who may approve large orders.

    Attributes:
        name: Login name (dev stack: userpass user) and suffix of the Transit key.
        limit_cents: Largest order total (in the order's own currency; there is no FX
            conversion) this approver may approve.
        active: Inactive approvers keep their key (old histories stay verifiable) but
            every new approval of theirs is rejected.
    """

    name: str
    limit_cents: int
    active: bool = True

    @property
    def transit_key(self) -> str:
        """Transit key of this approver (also the name of its Vault policy)."""
        return approver_key(self.name)


APPROVERS: Final[tuple[Approver, ...]] = (
    Approver("alice", 200_000),
    Approver("bob", 1_000_000),
    Approver("carol", 1_000_000, active=False),
    Approver("dave", 2_500_000),
)
"""The approver registry (limits and active flags). Public keys come from Vault Transit;
the workflow loads both once through ``load_approvers`` and pins them for the run."""


def transit_rights(identity: Identity) -> dict[str, frozenset[str]]:
    """Transit operations ``identity`` may perform, per key (what its policy must grant).

    Workers and the client encrypt and decrypt payloads (data keys); the codec server only
    decrypts; the client seals need-to-know fields (creates field data keys, cannot unwrap
    them); each field's consumer alone may unwrap, i.e. unseal. The migrate identity
    touches no payload at all.
    """
    rights: dict[str, frozenset[str]] = {}
    if identity.is_worker or identity.kind is Kind.CLIENT:
        rights[PAYLOAD_KEY] = frozenset({"datakey", "decrypt"})
    elif identity.kind is Kind.CODEC:
        rights[PAYLOAD_KEY] = frozenset({"decrypt"})
    for sealed in SEALED_FIELDS:
        if identity.kind is Kind.CLIENT:
            rights[sealed.key] = frozenset({"datakey"})
        elif identity is sealed.consumer:
            rights[sealed.key] = frozenset({"decrypt"})
    if identity is ORDER_APPROVALS:
        # Public keys only: reading a non-exportable key's metadata never reveals the private
        # key. Signing is the approvers' own right (their policies), never an identity's.
        rights[APPROVER_KEY_PREFIX + "*"] = frozenset({"read-key"})
    return rights


TEMPORAL_TOKEN_KEY: Final = "orders-machines"  # noqa: S105 - a key's name, not a secret
"""OpenBao identity-token key signing every identity's Temporal JWT (RS256; its public part
is served at ``identity/oidc/.well-known/keys``, which the Temporal server reads)."""


WORKER_TEMPORAL_ROLE: Final = "write"
"""Temporal role in workers' JWTs. Not ``worker``: Temporal's ``default`` authorizer (the one
an authorizing server here runs) grants the ``worker`` role nothing; polling and completing
tasks need ``write`` (temporal#1862). ``worker`` becomes right only with an authorizer that
admits it to the task APIs; then this one constant changes."""


# --- Temporal: what each identity may ask of Temporal (enforced by the authorization front) --

ORDER_WORKFLOW_TYPE: Final = "OrderWorkflow"
"""Workflow type the order-workflow identity runs (``@workflow.defn(name=...)``)."""
ORDER_ID_PREFIX: Final = "order-"
"""Workflow id of an order: this prefix + the order id (``orders.models.workflow_id_for``)."""
STATUS_QUERY: Final = "status"
APPROVE_UPDATE: Final = "approve"
APPROVAL_SIGNAL: Final = "approval"
PLACED_BY_HEADER: Final = "orders-placed-by"
"""Temporal header the authorization front sets on every workflow start: the authenticated
principal that placed it (any value a caller sent under this name is replaced)."""


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
    """

    poll_workflow_queues: tuple[str, ...] = ()
    poll_activity_queues: tuple[str, ...] = ()
    start: tuple[WorkflowGrant, ...] = ()
    send: tuple[WorkflowGrant, ...] = ()
    query: tuple[WorkflowGrant, ...] = ()
    read: tuple[WorkflowGrant, ...] = ()
    list: bool = False
    register_namespace: bool = False


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
    return ()


TEMPORAL_ADMIN_TOKEN_ROLE: Final = "temporal-admin"  # noqa: S105 - a role's name, not a secret
"""Identity-token role (``identity/oidc/role/temporal-admin``), Vault policy and token role
of the one-shot step that registers the namespace on an authorizing Temporal server. No
identity of the contract holds it: only the deployment's setup step, with the root token,
mints a minutes-long Vault token carrying just this policy, reads one JWT, and revokes it."""


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


def get(name: str) -> Identity:
    """Look an identity up by name.

    Raises:
        KeyError: With the known names, if ``name`` is not an identity.
    """
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown identity {name!r}; known: {', '.join(BY_NAME)}") from None


def workers() -> Iterator[Identity]:
    """Identities that run a worker process, workflow worker first."""
    return (i for i in ALL if i.is_worker)


def activity_identity(activity: str) -> Identity:
    """The identity whose queue runs ``activity``."""
    for ident in ALL:
        if activity in ident.activities:
            return ident
    raise KeyError(f"no identity runs activity {activity!r}")


def steps(workflow_identity: Identity) -> tuple[str, ...]:
    """Activities a generated workflow runs, in contract order (``Identity.workflow``).

    Args:
        workflow_identity: A workflow identity made by ``orders new workflow``.
    """
    return tuple(
        activity
        for ident in ALL
        if ident.workflow == workflow_identity.name
        for activity in ident.activities
    )


def db_identities() -> Iterator[Identity]:
    """Identities for which Vault's database engine issues Postgres roles."""
    return (i for i in ALL if i.has_db_role)


PKI_ROOT_MOUNT: Final = "pki"
"""Vault PKI mount of the root CA (signs the intermediate only)."""
PKI_MOUNT: Final = "pki_int"
"""Vault PKI mount of the intermediate CA that issues every certificate of the stack."""
PKI_SERVER_ROLE: Final = "orders-servers"
"""PKI role for server certificates (only the stack's operator/root may use it)."""
PKI_TEMPORAL_ROLE: Final = "temporal-server"
"""PKI role for the certificate of ``temporal.orders.local``, the name every caller dials:
the authorization front's (server usage only). Temporal's own certificate comes from its
internode CA (:data:`PKI_INTERNODE_ROLE`)."""
PKI_TEMPORAL_UI_ROLE: Final = "temporal-ui"
"""PKI role for the Temporal UI server's client certificate (a deployment's UI is a client
of the mTLS frontend and no identity of the contract)."""
TEMPORAL_UI_CERT_NAME: Final = "temporal-ui"
"""CN of the Temporal UI's client certificate."""
TEMPORAL_DB_SERVER_NAME: Final = "temporal-db.orders.local"
"""TLS name of Temporal's own Postgres in docker-compose and kind (only Temporal talks to it,
so it is not a :class:`Server` of the application and ``orders-servers`` cannot issue it)."""
PKI_TEMPORAL_DB_ROLE: Final = "temporal-db"
"""PKI role for temporal-db's server certificate: that one name, server usage only."""
CODEC_PUBLIC_HOST: Final = "codec.orders.localhost"
"""The codec server's browser-facing host in kind (its Ingress; browsers trust the root CA)."""
PKI_CODEC_INGRESS_ROLE: Final = "codec-ingress"
"""PKI role for the Ingress certificate of :data:`CODEC_PUBLIC_HOST`: that one name only."""
PKI_TEMPORAL_ADMIN_ROLE: Final = "temporal-admin"
"""PKI role (on :data:`PKI_MOUNT`) for the namespace step's client certificate: CN
:data:`TEMPORAL_ADMIN_CERT_NAME`, client usage only, minutes-long. No policy reaches it: only
the setup step, with the root token, issues one (kept in memory) to register the namespace
through the authorization front."""
TEMPORAL_ADMIN_CERT_NAME: Final = "temporal-admin"
"""CN of that certificate: the front's one principal that may register/describe the namespace."""
PKI_INTERNODE_MOUNT: Final = "pki_internode"
"""Vault PKI mount of Temporal's internode CA: a self-signed root of its own, *not* chained to
:data:`PKI_ROOT_MOUNT`, so no certificate of the Vault root CA (no identity's, no server's) is
accepted by Temporal's frontend or internode listeners; only the authorization front and
Temporal's own services hold certificates from it."""
PKI_INTERNODE_ROLE: Final = "temporal-internode"
"""PKI role (on :data:`PKI_INTERNODE_MOUNT`) for Temporal's frontend and internode certificate:
the one name :data:`TEMPORAL_FRONTEND_NAME`, server *and* client usage (history, matching,
frontend and worker services call each other with it)."""
PKI_FRONT_ROLE: Final = "temporal-front"
"""PKI role (on :data:`PKI_INTERNODE_MOUNT`) for the authorization front's client certificate
to the frontend: CN :data:`TEMPORAL_FRONT_CERT_NAME`, client usage only."""
TEMPORAL_FRONT_CERT_NAME: Final = "temporal-front"
"""CN of the authorization front's internode client certificate."""
TEMPORAL_FRONTEND_NAME: Final = "temporal-frontend.orders.local"
"""TLS name of the real Temporal frontend (behind the front; :attr:`Server.TEMPORAL`, the name
every caller dials, is the front's)."""
CERT_URI_PREFIX: Final = f"spiffe://orders.local/ns/{K8S_NAMESPACE}/sa/"
"""URI SAN of a client certificate: this prefix + the identity's ServiceAccount."""


class Server(enum.StrEnum):
    """TLS server names (certificate CN/DNS SAN, and the name clients verify)."""

    TEMPORAL = "temporal.orders.local"
    POSTGRES = "postgres.orders.local"
    OPENBAO = "openbao.orders.local"
    CODEC = "codec.orders.local"
    IDENTITY = "identity.orders.local"


def pki_role(identity: Identity) -> str:
    """Vault PKI role issuing ``identity``'s client certificates (CN = its name)."""
    return identity.name


def cert_uri(identity: Identity) -> str:
    """URI SAN of ``identity``'s client certificates."""
    return CERT_URI_PREFIX + identity.service_account
