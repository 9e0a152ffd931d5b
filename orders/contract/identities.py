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
    OPERATOR = "operator"


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
    def worker_deployment(self) -> str:
        """Temporal Worker Deployment of its worker (a version = this name + a build ID).

        One per identity, like its Kubernetes Deployment: each identity's workers roll out,
        and are promoted, on their own (``docs/evolving-workflows.md``).
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
ERASURE_COLUMNS: Final = ("customer_tag", "orders_affected", "histories_affected")
"""What ``orders customer forget`` records; erased_at and written_by come from the server."""
CUSTOMER_ERASER = Identity(
    "customer-eraser",
    Kind.OPERATOR,
    grants=(
        # Which orders a customer has (to refuse while one is in flight, and to count).
        grant("orders", SELECT=("id", "customer_id")),
        grant("erasures", INSERT=ERASURE_COLUMNS),
    ),
    summary="operator action: crypto-shreds one customer's key material (right to erasure)",
)

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
    CUSTOMER_ERASER,
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
    "erasures",
)
"""Every table of the application schema (the privilege matrix covers all of them)."""


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
