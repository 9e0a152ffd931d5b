"""Order data models: one pydantic model per workflow/activity argument and result.

Validation happens here, once: the CLI refuses an invalid order before anything is started
or written, and the error names the field. The same models travel through Temporal (with
the pydantic data converter), so a workflow or activity never sees an unvalidated order.
"""

from __future__ import annotations

import enum
import re
import uuid
from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from orders.approvals import AcceptedApproval, RevokedApproval
from orders.contract.approval_policy import (
    APPROVAL_DEADLINE_SECONDS,
    APPROVAL_THRESHOLD_CENTS,
    DUAL_APPROVAL_THRESHOLD_CENTS,
)

CURRENCIES: Final = frozenset({"EUR", "USD", "GBP", "CHF"})
SKU_PATTERN: Final = r"^[A-Z0-9][A-Z0-9-]{1,31}$"
MAX_ITEMS: Final = 50
MAX_QUANTITY: Final = 1000

_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,255}\.[A-Za-z]{2,24}$")

ORDER_ID_PATTERN: Final = r"^[A-Za-z0-9-]{8,64}$"
SEALED_VALUE_PATTERN: Final = (
    r"^sealed:(?:v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"
    r"|v2\.[A-Za-z0-9_-]+\.[0-9a-f]{32}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$"
)
"""What a need-to-know field looks like outside its consumer (``orders.security.sealing``):
``v1`` (field key only, orders placed before crypto-shredding) or ``v2`` (field and customer
key)."""
MAX_SEALED_LENGTH: Final = 4096
"""Room for the longest plaintext (a 500-character address, up to 4 bytes per character)
after Transit's nonce, tag, base64 and ``vault:vN:`` prefix; anything longer is not ours."""

Sku = Annotated[str, StringConstraints(pattern=SKU_PATTERN)]


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("not a valid e-mail address")
    return value


def _currency(value: str) -> str:
    if value not in CURRENCIES:
        raise ValueError(f"unsupported currency; one of {', '.join(sorted(CURRENCIES))}")
    return value


# The order-level types are shared by the plaintext request and its sealed form, so the two
# models cannot drift apart on anything but the sealed fields.
OrderId = Annotated[str, StringConstraints(pattern=ORDER_ID_PATTERN)]
CustomerId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Currency = Annotated[str, Field(min_length=3, max_length=3), AfterValidator(_currency)]
SealedValue = Annotated[
    str, StringConstraints(pattern=SEALED_VALUE_PATTERN, max_length=MAX_SEALED_LENGTH)
]
"""A need-to-know field sealed to its consumer's Transit key (see ``orders.security.sealing``)."""


class Model(BaseModel):
    """Base: frozen, strict about unknown fields, so typos are errors rather than ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class OrderItem(Model):
    """One line of an order."""

    sku: Sku
    quantity: int = Field(ge=1, le=MAX_QUANTITY)


def _unique_skus(items: tuple[OrderItem, ...]) -> tuple[OrderItem, ...]:
    skus = [i.sku for i in items]
    if len(set(skus)) != len(skus):
        raise ValueError("each SKU may appear once; merge the quantities")
    return items


Items = Annotated[
    tuple[OrderItem, ...],
    Field(min_length=1, max_length=MAX_ITEMS),
    AfterValidator(_unique_skus),
]


class OrderRequest(Model):
    """What a customer submits. Contains PII (email, address) and a payment reference.

    Only the client holds this plaintext form: it validates it, then seals the need-to-know
    fields into a :class:`SealedOrder` before anything reaches Temporal.
    """

    order_id: OrderId = Field(default_factory=lambda: str(uuid.uuid4()))
    customer_id: CustomerId
    customer_email: Annotated[str, Field(min_length=3, max_length=254), AfterValidator(_email)]
    shipping_address: str = Field(min_length=5, max_length=500)
    payment_reference: str = Field(min_length=4, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    currency: Currency = "EUR"
    items: Items

    @property
    def workflow_id(self) -> str:
        """The workflow id for this order (one workflow per order, enforced by Temporal)."""
        return workflow_id_for(self.order_id)


class ApprovalPolicy(Model):
    """When an order needs approval, and for how long it waits (part of the workflow input).

    The contract's values are ceilings: an input may tighten the policy (lower thresholds, a
    shorter deadline, as the tests do), never loosen it, so whoever starts a workflow cannot
    start one that skips approval.
    """

    threshold_cents: int = Field(
        default=APPROVAL_THRESHOLD_CENTS, ge=0, le=APPROVAL_THRESHOLD_CENTS
    )
    dual_threshold_cents: int = Field(
        default=DUAL_APPROVAL_THRESHOLD_CENTS, ge=0, le=DUAL_APPROVAL_THRESHOLD_CENTS
    )
    deadline_seconds: int = Field(
        default=APPROVAL_DEADLINE_SECONDS, ge=1, le=APPROVAL_DEADLINE_SECONDS
    )


class SealedOrder(Model):
    """The workflow input: an :class:`OrderRequest` with its need-to-know fields sealed.

    Each sealed field is a Transit ciphertext bound to this order id and field, which only
    its consuming identity can open. Nothing here checks the sealed values' plaintext: the
    client validated it before sealing, and nobody on the way can read it. ``order_id`` has
    no default because the seals are bound to it.
    """

    # A client that forgot to seal must not have the plaintext echoed into the validation
    # error, which a worker logs and Temporal records.
    model_config = ConfigDict(hide_input_in_errors=True)

    order_id: OrderId
    customer_id: CustomerId
    customer_email: SealedValue
    shipping_address: SealedValue
    payment_reference: SealedValue
    currency: Currency = "EUR"
    items: Items
    approval: ApprovalPolicy = ApprovalPolicy()

    @property
    def workflow_id(self) -> str:
        """The workflow id for this order (one workflow per order, enforced by Temporal)."""
        return workflow_id_for(self.order_id)


def workflow_id_for(order_id: str) -> str:
    """Workflow id of an order."""
    return f"order-{order_id}"


class ValidatedOrder(Model):
    """Result of validate_order: the order as recorded, priced from the catalogue.

    ``total_cents`` and ``currency`` are the recorded row's (a retry reads them back), so
    the status, the approval threshold and the payment all use one amount.
    """

    order_id: str
    total_cents: int
    currency: str
    item_count: int


class OrderRef(Model):
    """Argument of activities that only need to know which order (they read the rest)."""

    order_id: str


class StepDone(Model):
    """Result of a step of a generated workflow (``orders new``): which order, which step.

    Attributes:
        order_id: The order.
        step: The activity that ran.
        detail: A short, PII-free note for the history (e.g. what was recorded).
    """

    order_id: str
    step: str
    detail: str = ""


class ReserveRequest(Model):
    """Argument of reserve_inventory."""

    order_id: str
    items: tuple[OrderItem, ...]


class Reservation(Model):
    """Result of reserve_inventory / release_inventory."""

    order_id: str
    skus: tuple[str, ...]
    status: str


class PaymentRequest(Model):
    """Argument of process_payment. The amount is read from the database, not trusted here.

    The payment reference stays sealed to the payment identity all the way from the client.
    """

    model_config = ConfigDict(hide_input_in_errors=True)

    order_id: str
    payment_reference: SealedValue


class PaymentResult(Model):
    """Result of process_payment / refund_payment."""

    order_id: str
    transaction_id: str
    amount_cents: int
    currency: str
    status: str


class Shipment(Model):
    """Result of fulfill_order."""

    order_id: str
    tracking_number: str


class Notification(Model):
    """Result of notify_customer."""

    order_id: str
    kind: str


class Outcome(enum.StrEnum):
    """Terminal outcome of an order."""

    COMPLETED = "COMPLETED"
    INVALID = "INVALID"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    FULFILLMENT_FAILED = "FULFILLMENT_FAILED"
    REJECTED = "REJECTED"
    DUPLICATE_ORDER = "DUPLICATE_ORDER"
    """Another run already recorded this order id: this run did nothing at all."""


class Step(enum.StrEnum):
    """Where an order is."""

    STARTED = "started"
    VALIDATING = "validating"
    RESERVING = "reserving_inventory"
    AWAITING_APPROVAL = "awaiting_approval"
    PAYING = "processing_payment"
    FULFILLING = "fulfilling"
    NOTIFYING = "notifying"
    COMPENSATING = "compensating"
    DONE = "done"


class OrderStatus(Model):
    """Answer of the workflow's ``status`` query and its final result."""

    order_id: str
    step: Step
    outcome: Outcome | None = None
    reason: str | None = None
    total_cents: int | None = None
    currency: str | None = None
    completed_steps: tuple[str, ...] = ()
    compensations: tuple[str, ...] = ()
    approvals_required: int = 0
    """Distinct approvers this order needs (0: below the threshold)."""
    approval_deadline: str | None = None
    """Workflow time (ISO-8601 UTC) after which an unapproved order is REJECTED."""
    approvals: tuple[AcceptedApproval, ...] = ()
    """Accepted approvals and rejections: who, when (workflow time), key version."""
    rejected_approvals: int = 0
    """Approvals refused by the ``approve`` Update's handler (its validator's refusals are
    never recorded anywhere: they do not reach history)."""
    rejected_signals: int = 0
    """``approval`` signals dropped: malformed, hostile, or failing verification."""
    revoked_approvals: tuple[RevokedApproval, ...] = ()
    """Accepted approvals withdrawn when the registry was read again before the decision
    (their approver removed from ``order-approvers``, or their key version retired)."""


class BusinessError(enum.StrEnum):
    """``ApplicationError.type`` of failures that retrying cannot fix."""

    INVALID_ORDER = "InvalidOrder"
    OUT_OF_STOCK = "OutOfStock"
    PAYMENT_DECLINED = "PaymentDeclined"
    UNDELIVERABLE = "Undeliverable"
    DUPLICATE_ORDER = "DuplicateOrder"
    """The order id was recorded by another workflow run (an order id is used once)."""
