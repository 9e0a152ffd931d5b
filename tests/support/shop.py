"""A shop of stand-in activities around OrderWorkflow, on a real Temporal dev server.

Shared by the workflow unit tests and the golden-history recorder
(``record_histories.py``). The activities are in-memory stand-ins with the real ones'
names and business rules; each identity's worker registers only its own, so a step
scheduled on the wrong queue would never run.

How an order's need-to-know fields are sealed is the one thing the two users choose
differently, through :class:`Seals`: the tests seal against a real OpenBao with the
project's policies (:class:`VaultSeals`), so the workflow is proven to pass real
ciphertext through untouched; the recorder uses :class:`SyntheticSeals`, opaque tokens
that need no server and carry no plaintext, so a recorded history replays anywhere.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Final, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from temporalio import activity
from temporalio.client import Client, Interceptor, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from orders.approvals import ApproverRegistry, PinnedApprover, RegistryRequest
from orders.contract import approval_policy, identities
from orders.contract.identities import Kind
from orders.contract.transit_names import SEALED_FIELDS
from orders.models import (
    ApprovalPolicy,
    BusinessError,
    Notification,
    OrderItem,
    OrderRef,
    OrderRequest,
    OrderStatus,
    PaymentRequest,
    PaymentResult,
    Reservation,
    ReserveRequest,
    SealedOrder,
    Shipment,
    ValidatedOrder,
)
from orders.security.sealing import SEALED_PREFIX, Sealer, Unsealer
from tests.support.front import placed_by
from tests.support.golden import NAMESPACE
from workflows import OrderWorkflow

TEMPORAL: Final = shutil.which("temporal") or str(Path(sys.executable).parent / "temporal")
PRICES: Final = {"SKU-WIDGET": 1250, "SKU-PHONE": 49900, "SKU-LAPTOP": 149900, "SKU-SOLDOUT": 2500}
EMAIL: Final = "ann@example.org"
ADDRESS: Final = "12 Quay Street, Dublin"
REFERENCE: Final = "tok_visa_4242"

VALIDATE, RESERVE, PAY, FULFILL, NOTIFY = (
    identities.VALIDATE_ORDER,
    identities.RESERVE_INVENTORY,
    identities.PROCESS_PAYMENT,
    identities.FULFILL_ORDER,
    identities.NOTIFY_CUSTOMER,
)
REFUND, RELEASE = identities.REFUND_PAYMENT, identities.RELEASE_INVENTORY
HAPPY_STEPS: Final = (VALIDATE, RESERVE, PAY, FULFILL, NOTIFY)

ApproverKeys = dict[str, dict[int, Ed25519PrivateKey]]
"""Approver -> key version -> private key (stands in for the approvers' Transit keys)."""


def business(kind: BusinessError, message: str) -> ApplicationError:
    """A business failure as the real activities raise it."""
    return ApplicationError(message, type=kind.value, non_retryable=True)


class Seals(Protocol):
    """Seals an order as the client does; opens a field as its consuming activity does."""

    async def seal_order(self, order: OrderRequest) -> SealedOrder:
        """The workflow input for ``order``."""
        ...

    async def unseal(self, activity_name: str, field_name: str, order_id: str, value: str) -> str:
        """The plaintext of ``value`` as ``activity_name``'s identity opens it."""
        ...


@dataclass
class VaultSeals:
    """Real sealing: the client's Transit key seals, each consumer's own token opens."""

    sealer: Sealer
    unsealers: Mapping[str, Unsealer]
    """Activity name -> its identity's unsealer (own Vault token)."""

    async def seal_order(self, order: OrderRequest) -> SealedOrder:
        """Seal through Vault (see :meth:`Sealer.seal_order`)."""
        return await self.sealer.seal_order(order)

    async def unseal(self, activity_name: str, field_name: str, order_id: str, value: str) -> str:
        """Open through Vault with the consuming identity's token."""
        return await self.unsealers[activity_name].unseal(field_name, order_id, value)


@dataclass
class SyntheticSeals:
    """Opaque stand-ins for sealed values: no server, no key, no plaintext in history.

    A sealed value is ``sealed:v1.synthetic.<digest of order, field and plaintext>``: it
    has the real format (the workflow input validates), is the same on every recording of
    the same order, and only this object (the recorder's memory) maps it back.
    """

    opened: dict[str, str] = field(default_factory=dict)

    def seal(self, field_name: str, order_id: str, plaintext: str) -> str:
        """The synthetic sealed value of one field."""
        digest = hashlib.sha256(f"{order_id}|{field_name}|{plaintext}".encode()).digest()
        body = base64.urlsafe_b64encode(digest[:18]).decode()
        sealed = f"{SEALED_PREFIX}synthetic.{body}"
        self.opened[sealed] = plaintext
        return sealed

    async def seal_order(self, order: OrderRequest) -> SealedOrder:
        """The workflow input for ``order``, every sealed field replaced by a token."""
        data = order.model_dump()
        for spec in SEALED_FIELDS:
            data[spec.field] = self.seal(spec.field, order.order_id, data[spec.field])
        return SealedOrder.model_validate(data)

    async def unseal(self, activity_name: str, field_name: str, order_id: str, value: str) -> str:
        """The plaintext behind a token this object made."""
        return self.opened[value]


def public_keys(keys: Mapping[int, Ed25519PrivateKey]) -> dict[int, str]:
    """Key version -> raw Ed25519 public key, base64 (as the registry pins it)."""
    return {
        version: base64.b64encode(
            key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        ).decode()
        for version, key in keys.items()
    }


@dataclass
class FakeShop:
    """Activities by name, recording (activity, order id, task queue) for every attempt."""

    seals: Seals
    calls: list[tuple[str, str, str]] = field(default_factory=list)
    orders: dict[str, SealedOrder] = field(default_factory=dict)
    notified: dict[str, str] = field(default_factory=dict)
    """Order id -> the e-mail address notify unsealed."""
    fulfil_gates: dict[str, asyncio.Event] = field(default_factory=dict)
    fulfil_started: dict[str, asyncio.Event] = field(default_factory=dict)
    flaky_payments: set[str] = field(default_factory=set)
    broken: dict[str, set[str]] = field(default_factory=dict)
    """activity name -> order ids for which it fails with a non-business, non-retryable error."""
    approver_keys: ApproverKeys = field(default_factory=dict)
    registry_loads: int = 0
    registry_reads: list[tuple[str, ...]] = field(default_factory=list)
    """Names each load_approvers asked for (() = everyone), in order."""
    removed: set[str] = field(default_factory=set)
    """Approvers outside order-approvers (as OpenBao's group would say)."""
    min_versions: dict[str, int] = field(default_factory=dict)
    """Approver -> lowest key version in force (Transit min_decryption_version)."""
    duplicates: set[str] = field(default_factory=set)
    """Order ids validate refuses as recorded by another run (DuplicateOrder)."""
    recorded_totals: dict[str, int] = field(default_factory=dict)
    """Order id -> the total validate reads back from the row (instead of pricing the input)."""

    def _record(self, name: str, order_id: str) -> None:
        self.calls.append((name, order_id, activity.info().task_queue))
        if order_id in self.broken.get(name, set()):
            raise ApplicationError("invariant broken", type="NotRecorded", non_retryable=True)

    def steps(self, order_id: str) -> list[str]:
        """The activities run for ``order_id``, in order (one entry per attempt)."""
        return [name for name, oid, _ in self.calls if oid == order_id]

    @activity.defn(name=VALIDATE)
    async def validate_order(self, order: SealedOrder) -> ValidatedOrder:
        self._record(VALIDATE, order.order_id)
        if order.order_id in self.duplicates:
            raise business(BusinessError.DUPLICATE_ORDER, f"order {order.order_id} was placed")
        unknown = sorted(i.sku for i in order.items if i.sku not in PRICES)
        if unknown:
            raise business(BusinessError.INVALID_ORDER, f"unknown SKU: {', '.join(unknown)}")
        self.orders[order.order_id] = order
        total = sum(PRICES[i.sku] * i.quantity for i in order.items)
        total = self.recorded_totals.get(order.order_id, total)
        return ValidatedOrder(
            order_id=order.order_id,
            total_cents=total,
            currency=order.currency,
            item_count=len(order.items),
        )

    @activity.defn(name=RESERVE)
    async def reserve_inventory(self, request: ReserveRequest) -> Reservation:
        self._record(RESERVE, request.order_id)
        for item in request.items:
            if item.sku == "SKU-SOLDOUT":
                raise business(BusinessError.OUT_OF_STOCK, f"insufficient stock for {item.sku}")
        skus = tuple(i.sku for i in request.items)
        return Reservation(order_id=request.order_id, skus=skus, status="held")

    @activity.defn(name=PAY)
    async def process_payment(self, request: PaymentRequest) -> PaymentResult:
        self._record(PAY, request.order_id)
        if request.order_id in self.flaky_payments and activity.info().attempt == 1:
            raise RuntimeError("processor timeout")  # retryable
        reference = await self.seals.unseal(
            PAY, "payment_reference", request.order_id, request.payment_reference
        )
        if reference.startswith("decline-"):
            raise business(BusinessError.PAYMENT_DECLINED, "payment declined")
        order = self.orders[request.order_id]
        total = sum(PRICES[i.sku] * i.quantity for i in order.items)
        return PaymentResult(
            order_id=request.order_id,
            transaction_id=f"TXN-{request.order_id}",
            amount_cents=total,
            currency=order.currency,
            status="captured",
        )

    @activity.defn(name=FULFILL)
    async def fulfill_order(self, ref: OrderRef) -> Shipment:
        self._record(FULFILL, ref.order_id)
        if ref.order_id in self.fulfil_started:
            self.fulfil_started[ref.order_id].set()
            await self.fulfil_gates[ref.order_id].wait()
        sealed = self.orders[ref.order_id].shipping_address
        address = await self.seals.unseal(FULFILL, "shipping_address", ref.order_id, sealed)
        if "undeliverable" in address.lower():
            raise business(BusinessError.UNDELIVERABLE, "the carrier cannot deliver")
        return Shipment(order_id=ref.order_id, tracking_number=f"TRK-{ref.order_id}")

    @activity.defn(name=NOTIFY)
    async def notify_customer(self, ref: OrderRef) -> Notification:
        self._record(NOTIFY, ref.order_id)
        sealed = self.orders[ref.order_id].customer_email
        self.notified[ref.order_id] = await self.seals.unseal(
            NOTIFY, "customer_email", ref.order_id, sealed
        )
        return Notification(order_id=ref.order_id, kind="order_completed")

    @activity.defn(name=identities.LOAD_APPROVERS)
    async def load_approvers(self, request: RegistryRequest | None = None) -> ApproverRegistry:
        self.registry_loads += 1
        names = request.names if request is not None else ()
        self.registry_reads.append(names)
        return ApproverRegistry(
            approvers=tuple(
                PinnedApprover(
                    name=a.name,
                    limit_cents=a.limit_cents,
                    active=a.active,
                    public_keys={
                        version: key
                        for version, key in public_keys(self.approver_keys.get(a.name, {})).items()
                        if version >= self.min_versions.get(a.name, 1)
                    },
                    member=a.name not in self.removed,
                    min_key_version=self.min_versions.get(a.name, 1),
                )
                for a in approval_policy.APPROVERS
                if not names or a.name in names
            )
        )

    @activity.defn(name=REFUND)
    async def refund_payment(self, ref: OrderRef) -> PaymentResult:
        self._record(REFUND, ref.order_id)
        return PaymentResult(
            order_id=ref.order_id,
            transaction_id=f"TXN-{ref.order_id}",
            amount_cents=0,
            currency="EUR",
            status="refunded",
        )

    @activity.defn(name=RELEASE)
    async def release_inventory(self, ref: OrderRef) -> Reservation:
        self._record(RELEASE, ref.order_id)
        return Reservation(order_id=ref.order_id, skus=(), status="released")


@dataclass
class Harness:
    """A client of the shop's dev server, starting orders as the client and front do."""

    client: Client
    shop: FakeShop
    handles: list[WorkflowHandle[Any, Any]] = field(default_factory=list)
    sealed: dict[str, SealedOrder] = field(default_factory=dict)

    @property
    def seals(self) -> Seals:
        """How this harness seals orders (the shop's)."""
        return self.shop.seals

    async def start(
        self, order: OrderRequest, approval: ApprovalPolicy | None = None
    ) -> WorkflowHandle[OrderWorkflow, OrderStatus]:
        """Seal ``order`` and start its workflow, placed by its customer."""
        # As the client does: seal, then start; the workflow never sees the plaintext.
        sealed = await self.seals.seal_order(order)
        if approval is not None:
            sealed = sealed.model_copy(update={"approval": approval})
        self.sealed[order.order_id] = sealed
        # The front records who placed it; here the customer stands in for that person.
        client = placed_by(self.client, f"person:{order.customer_id}")
        handle = await client.start_workflow(
            OrderWorkflow.run,
            sealed,
            id=sealed.workflow_id,
            task_queue=identities.ORDER_WORKFLOW.task_queue,
        )
        self.handles.append(handle)
        return handle

    async def run(self, order: OrderRequest) -> OrderStatus:
        """Start ``order`` and wait for its final status."""
        return await (await self.start(order)).result()


def workflow_worker(
    client: Client,
    *,
    identity: str | None = None,
    sticky_timeout: timedelta = timedelta(seconds=10),
) -> Worker:
    """A worker of the order-workflow queue (``identity`` as recorded in history)."""
    return Worker(
        client,
        task_queue=identities.ORDER_WORKFLOW.task_queue,
        workflows=[OrderWorkflow],
        identity=identity,
        sticky_queue_schedule_to_start_timeout=sticky_timeout,
    )


@asynccontextmanager
async def running_shop(
    shop: FakeShop,
    *,
    with_workflow_worker: bool = True,
    client_identity: str | None = None,
    activity_worker_identity: Callable[[str], str | None] = lambda queue: None,
    interceptors: Sequence[Interceptor] = (),
) -> AsyncIterator[Harness]:
    """A fresh dev server, one worker per activity identity serving ``shop``, a harness.

    Args:
        shop: The stand-in activities.
        with_workflow_worker: Also run a workflow worker for the whole block (the recorder
            runs its own, to stop and replace it mid-order).
        client_identity: Identity of the client (recorded in started events).
        activity_worker_identity: Task queue -> identity of its worker (None: the SDK's).
        interceptors: The client's, and so every worker's (a tracing interceptor).
    """
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=TEMPORAL,
        data_converter=pydantic_data_converter,
        namespace=NAMESPACE,
        dev_server_log_level="error",
        identity=client_identity,
        interceptors=interceptors,
    )
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(env)
        if with_workflow_worker:
            await stack.enter_async_context(workflow_worker(env.client))
        for ident in identities.ALL:
            if ident.kind is not Kind.ACTIVITY:
                continue
            fns: list[Callable[..., Any]] = [getattr(shop, name) for name in ident.activities]
            worker = Worker(
                env.client,
                task_queue=ident.task_queue,
                activities=fns,
                identity=activity_worker_identity(ident.task_queue),
            )
            await stack.enter_async_context(worker)
        yield Harness(env.client, shop)


def new_order(
    *items: tuple[str, int],
    reference: str = REFERENCE,
    address: str = ADDRESS,
    order_id: str | None = None,
    customer: str = "cust-7",
) -> OrderRequest:
    """An order (default: two widgets, below the approval threshold)."""
    return OrderRequest(
        order_id=order_id or f"ord-{uuid.uuid4()}",
        customer_id=customer,
        customer_email=EMAIL,
        shipping_address=address,
        payment_reference=reference,
        items=tuple(OrderItem(sku=s, quantity=q) for s, q in items)
        or (OrderItem(sku="SKU-WIDGET", quantity=2),),
    )
