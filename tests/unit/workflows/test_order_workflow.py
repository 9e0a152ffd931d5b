"""OrderWorkflow on a real Temporal dev server, with one worker per identity queue.

The activities here are in-memory stand-ins with the real ones' names and business rules;
each identity's worker registers only its own, so a step scheduled on the wrong queue would
never run. Every history produced is replayed at the end to prove determinism.

Orders are sealed as the client seals them, against a real OpenBao with the project's
policies; the stand-ins of the consuming activities unseal with their identity's own
token, so the workflow is proven to pass the sealed values through untouched and its
history is proven to hold no plaintext.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from orders import identities
from orders.approvals import ApproverRegistry, PinnedApprover, RegistryRequest
from orders.identities import Kind
from orders.models import (
    ApprovalPolicy,
    BusinessError,
    Notification,
    OrderItem,
    OrderRef,
    OrderRequest,
    OrderStatus,
    Outcome,
    PaymentRequest,
    PaymentResult,
    Reservation,
    ReserveRequest,
    SealedOrder,
    Shipment,
    Step,
    ValidatedOrder,
)
from orders.security.sealing import Sealer, Unsealer
from tests.support_front import placed_by
from tests.support_wait import wait_for
from tests.unit.security.openbao_dev import Transits, dev_vault, transits
from workflows import OrderWorkflow
from workflows.order import (
    NOTIFY_FAILED,
    OUTCOMES,
    STATUS_QUERY,
    WORKFLOW_ID_MISMATCH,
    business_failure,
)

__all__ = ["dev_vault", "transits"]  # fixtures, imported so pytest finds them here

TEMPORAL = shutil.which("temporal") or str(Path(sys.executable).parent / "temporal")
NAMESPACE = "orders-unit"
PRICES = {"SKU-WIDGET": 1250, "SKU-PHONE": 49900, "SKU-LAPTOP": 149900, "SKU-SOLDOUT": 2500}
EMAIL = "ann@example.org"
ADDRESS = "12 Quay Street, Dublin"
REFERENCE = "tok_visa_4242"

VALIDATE, RESERVE, PAY, FULFILL, NOTIFY = (
    identities.VALIDATE_ORDER,
    identities.RESERVE_INVENTORY,
    identities.PROCESS_PAYMENT,
    identities.FULFILL_ORDER,
    identities.NOTIFY_CUSTOMER,
)
REFUND, RELEASE = identities.REFUND_PAYMENT, identities.RELEASE_INVENTORY
HAPPY_STEPS = (VALIDATE, RESERVE, PAY, FULFILL, NOTIFY)


def business(kind: BusinessError, message: str) -> ApplicationError:
    return ApplicationError(message, type=kind.value, non_retryable=True)


@dataclass
class FakeShop:
    """Activities by name, recording (activity, order id, task queue) for every attempt."""

    unsealers: dict[str, Unsealer]
    """Activity name -> its identity's unsealer (own Vault token)."""
    calls: list[tuple[str, str, str]] = field(default_factory=list)
    orders: dict[str, SealedOrder] = field(default_factory=dict)
    notified: dict[str, str] = field(default_factory=dict)
    """Order id -> the e-mail address notify unsealed."""
    fulfil_gates: dict[str, asyncio.Event] = field(default_factory=dict)
    fulfil_started: dict[str, asyncio.Event] = field(default_factory=dict)
    flaky_payments: set[str] = field(default_factory=set)
    broken: dict[str, set[str]] = field(default_factory=dict)
    """activity name -> order ids for which it fails with a non-business, non-retryable error."""
    approver_keys: dict[str, dict[int, Ed25519PrivateKey]] = field(default_factory=dict)
    """Approver -> key version -> private key (stands in for the approvers' Transit keys)."""
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
        return [name for name, oid, _ in self.calls if oid == order_id]

    async def unseal(self, activity_name: str, field_name: str, order_id: str, value: str) -> str:
        return await self.unsealers[activity_name].unseal(field_name, order_id, value)

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
        reference = await self.unseal(
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
        address = await self.unseal(FULFILL, "shipping_address", ref.order_id, sealed)
        if "undeliverable" in address.lower():
            raise business(BusinessError.UNDELIVERABLE, "the carrier cannot deliver")
        return Shipment(order_id=ref.order_id, tracking_number=f"TRK-{ref.order_id}")

    @activity.defn(name=NOTIFY)
    async def notify_customer(self, ref: OrderRef) -> Notification:
        self._record(NOTIFY, ref.order_id)
        sealed = self.orders[ref.order_id].customer_email
        self.notified[ref.order_id] = await self.unseal(
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
                        version: base64.b64encode(
                            key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
                        ).decode()
                        for version, key in self.approver_keys.get(a.name, {}).items()
                        if version >= self.min_versions.get(a.name, 1)
                    },
                    member=a.name not in self.removed,
                    min_key_version=self.min_versions.get(a.name, 1),
                )
                for a in identities.APPROVERS
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
    client: Client
    shop: FakeShop
    sealer: Sealer
    handles: list[WorkflowHandle[Any, Any]] = field(default_factory=list)
    sealed: dict[str, SealedOrder] = field(default_factory=dict)

    async def start(
        self, order: OrderRequest, approval: ApprovalPolicy | None = None
    ) -> WorkflowHandle[OrderWorkflow, OrderStatus]:
        # As the client does: seal, then start; the workflow never sees the plaintext.
        sealed = await self.sealer.seal_order(order)
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
        return await (await self.start(order)).result()


def new_order(
    *items: tuple[str, int], reference: str = REFERENCE, address: str = ADDRESS
) -> OrderRequest:
    return OrderRequest(
        order_id=f"ord-{uuid.uuid4()}",
        customer_id="cust-7",
        customer_email=EMAIL,
        shipping_address=address,
        payment_reference=reference,
        items=tuple(OrderItem(sku=s, quantity=q) for s, q in items)
        or (OrderItem(sku="SKU-WIDGET", quantity=2),),
    )


@pytest_asyncio.fixture(scope="module")
async def harness(transits: Transits) -> AsyncIterator[Harness]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=TEMPORAL,
        data_converter=pydantic_data_converter,
        namespace=NAMESPACE,
        dev_server_log_level="error",
    )
    consumers = {name: identities.activity_identity(name) for name in (PAY, FULFILL, NOTIFY)}
    shop = FakeShop(
        unsealers={name: Unsealer(transits(ident), ident) for name, ident in consumers.items()},
        approver_keys={a.name: {1: Ed25519PrivateKey.generate()} for a in identities.APPROVERS},
    )
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(env)
        await stack.enter_async_context(
            Worker(
                env.client,
                task_queue=identities.ORDER_WORKFLOW.task_queue,
                workflows=[OrderWorkflow],
            )
        )
        for ident in identities.ALL:
            if ident.kind is not Kind.ACTIVITY:
                continue
            fns: list[Callable[..., Any]] = [getattr(shop, name) for name in ident.activities]
            await stack.enter_async_context(
                Worker(env.client, task_queue=ident.task_queue, activities=fns)
            )
        yield Harness(env.client, shop, Sealer(transits(identities.ORDER_CLIENT)))


def assert_no_pii(status: OrderStatus) -> None:
    text = status.model_dump_json()
    assert EMAIL not in text
    assert "Quay Street" not in text
    assert "undeliverable" not in (status.reason or "").lower()


async def test_happy_path(harness: Harness) -> None:
    order = new_order(("SKU-WIDGET", 2), ("SKU-PHONE", 1))  # below the approval threshold

    status = await harness.run(order)

    assert status.outcome is Outcome.COMPLETED
    assert status.step is Step.DONE
    assert status.reason is None
    assert status.completed_steps == HAPPY_STEPS
    assert status.compensations == ()
    assert status.total_cents == 2 * 1250 + 49900
    assert status.currency == "EUR"
    assert harness.shop.steps(order.order_id) == list(HAPPY_STEPS)
    for name, order_id, queue in harness.shop.calls:
        if order_id == order.order_id:
            assert queue == identities.activity_identity(name).task_queue
    assert_no_pii(status)
    # The consumer at the end of the chain opens what the client sealed at the start.
    assert harness.shop.notified[order.order_id] == EMAIL


async def test_history_carries_only_sealed_values(harness: Harness) -> None:
    # No payload codec here, so the history's payloads are plain JSON: whatever PII the
    # workflow handled would be visible in them as is.
    orders = [
        new_order(),
        new_order(reference="decline-secret-card"),
        new_order(address="Undeliverable Alley 13, Secretville"),
    ]
    for order in orders:
        await harness.run(order)

    for order in orders:
        handle = harness.client.get_workflow_handle(order.workflow_id)
        history = await handle.fetch_history()
        raw = b"".join(event.SerializeToString() for event in history.events)
        sealed = harness.sealed[order.order_id]
        for name in ("customer_email", "shipping_address", "payment_reference"):
            assert getattr(order, name).encode() not in raw, name
        # Positive control: the search does see payload contents (the sealed values).
        assert sealed.shipping_address.encode() in raw
        assert sealed.payment_reference.encode() in raw


async def test_out_of_stock_pays_nothing_and_releases_nothing(harness: Harness) -> None:
    order = new_order(("SKU-WIDGET", 1), ("SKU-SOLDOUT", 1))

    status = await harness.run(order)

    assert status.outcome is Outcome.OUT_OF_STOCK
    assert status.reason is not None
    assert "SKU-SOLDOUT" in status.reason
    assert status.completed_steps == (VALIDATE,)
    assert status.compensations == ()
    assert harness.shop.steps(order.order_id) == [VALIDATE, RESERVE]


async def test_invalid_order_stops_at_validation(harness: Harness) -> None:
    order = new_order(("SKU-NOPE", 1))

    status = await harness.run(order)

    assert status.outcome is Outcome.INVALID
    assert status.reason == "unknown SKU: SKU-NOPE"
    assert status.total_cents is None
    assert harness.shop.steps(order.order_id) == [VALIDATE]


async def test_payment_declined_releases_the_stock(harness: Harness) -> None:
    order = new_order(reference="decline-card-1")

    status = await harness.run(order)

    assert status.outcome is Outcome.PAYMENT_DECLINED
    assert status.completed_steps == (VALIDATE, RESERVE)
    assert status.compensations == (RELEASE,)
    assert harness.shop.steps(order.order_id) == [VALIDATE, RESERVE, PAY, RELEASE]
    assert "decline-card-1" not in (status.reason or "")


async def test_undeliverable_refunds_then_releases(harness: Harness) -> None:
    order = new_order(address="Undeliverable Road 1, Atlantis")

    status = await harness.run(order)

    assert status.outcome is Outcome.FULFILLMENT_FAILED
    assert status.step is Step.DONE
    assert status.completed_steps == (VALIDATE, RESERVE, PAY)
    assert status.compensations == (REFUND, RELEASE)
    assert harness.shop.steps(order.order_id) == [VALIDATE, RESERVE, PAY, FULFILL, REFUND, RELEASE]
    assert "Atlantis" not in (status.reason or "")
    assert_no_pii(status)


async def test_transient_failure_is_retried(harness: Harness) -> None:
    order = new_order()
    harness.shop.flaky_payments.add(order.order_id)

    status = await harness.run(order)

    assert status.outcome is Outcome.COMPLETED
    assert harness.shop.steps(order.order_id).count(PAY) == 2


async def test_failed_notification_does_not_compensate(harness: Harness) -> None:
    order = new_order()
    harness.shop.broken[NOTIFY] = {order.order_id}

    status = await harness.run(order)

    assert status.outcome is Outcome.COMPLETED
    assert status.reason == NOTIFY_FAILED
    assert status.completed_steps == (VALIDATE, RESERVE, PAY, FULFILL)
    assert status.compensations == ()
    assert REFUND not in harness.shop.steps(order.order_id)


async def test_non_business_failure_compensates_then_fails(harness: Harness) -> None:
    order = new_order()
    harness.shop.broken[PAY] = {order.order_id}
    handle = await harness.start(order)

    with pytest.raises(WorkflowFailureError):
        await handle.result()

    # Stock was held, so it is returned; the payment never completed, so nothing is refunded.
    assert harness.shop.steps(order.order_id) == [VALIDATE, RESERVE, PAY, RELEASE]
    status = await handle.query(STATUS_QUERY, result_type=OrderStatus)
    assert status.step is Step.COMPENSATING
    assert status.outcome is None
    assert status.compensations == (RELEASE,)


async def test_unsure_reservation_is_released(harness: Harness) -> None:
    order = new_order()
    harness.shop.broken[RESERVE] = {order.order_id}
    handle = await harness.start(order)

    with pytest.raises(WorkflowFailureError):
        await handle.result()

    assert harness.shop.steps(order.order_id) == [VALIDATE, RESERVE, RELEASE]


async def test_status_query_mid_way(harness: Harness) -> None:
    order = new_order(("SKU-WIDGET", 3))
    harness.shop.fulfil_gates[order.order_id] = asyncio.Event()
    started = harness.shop.fulfil_started[order.order_id] = asyncio.Event()
    handle = await harness.start(order)

    await asyncio.wait_for(started.wait(), timeout=10)
    mid = await handle.query(OrderWorkflow.status)

    assert mid.step is Step.FULFILLING
    assert mid.outcome is None
    assert mid.completed_steps == (VALIDATE, RESERVE, PAY)
    assert mid.total_cents == 3 * 1250
    harness.shop.fulfil_gates[order.order_id].set()
    final = await handle.result()
    assert final.outcome is Outcome.COMPLETED
    assert await handle.query(OrderWorkflow.status) == final


async def test_a_duplicate_order_id_ends_the_saga_with_nothing_else_run(harness: Harness) -> None:
    order = new_order()
    harness.shop.duplicates.add(order.order_id)

    status = await harness.run(order)

    assert status.outcome is Outcome.DUPLICATE_ORDER
    assert status.step is Step.DONE
    assert status.completed_steps == ()
    assert status.compensations == ()
    assert status.total_cents is None
    assert harness.shop.steps(order.order_id) == [VALIDATE]


async def test_workflow_id_not_of_its_order_runs_no_activity(harness: Harness) -> None:
    victim, carrier = new_order(), new_order()
    sealed = await harness.sealer.seal_order(victim)
    wrong_id = carrier.workflow_id  # order-<another order id>

    handle = await harness.client.start_workflow(
        OrderWorkflow.run,
        sealed,
        id=wrong_id,
        task_queue=identities.ORDER_WORKFLOW.task_queue,
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()

    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == WORKFLOW_ID_MISMATCH
    assert cause.non_retryable
    assert wrong_id in cause.message
    assert victim.order_id in cause.message
    assert harness.shop.steps(victim.order_id) == []
    assert harness.shop.steps(carrier.order_id) == []
    history = await handle.fetch_history()
    assert not any(e.HasField("activity_task_scheduled_event_attributes") for e in history.events)


async def test_status_and_approval_use_the_recorded_total(harness: Harness) -> None:
    order = new_order(("SKU-WIDGET", 1))  # 12.50 priced from the input: no approval
    # The row says 5,998.00 (recorded by this run's first attempt): that is the amount.
    harness.shop.recorded_totals[order.order_id] = 599800
    handle = await harness.start(order)

    async def awaiting() -> OrderStatus | None:
        status = await handle.query(OrderWorkflow.status)
        return status if status.step is Step.AWAITING_APPROVAL else None

    status = await wait_for(awaiting, timeout=10)

    assert status.total_cents == 599800
    assert status.approvals_required == 2
    assert PAY not in harness.shop.steps(order.order_id)
    await handle.terminate("test done")


def test_every_business_error_maps_to_an_outcome() -> None:
    assert set(OUTCOMES) == {e.value for e in BusinessError}
    assert OUTCOMES[BusinessError.DUPLICATE_ORDER] is Outcome.DUPLICATE_ORDER
    assert BusinessError.DUPLICATE_ORDER.value == "DuplicateOrder"
    assert Outcome.DUPLICATE_ORDER.value == "DUPLICATE_ORDER"
    failure = ActivityError(
        "activity failed",
        scheduled_event_id=1,
        started_event_id=2,
        identity="w",
        activity_type=VALIDATE,
        activity_id="1",
        retry_state=None,
    )
    failure.__cause__ = business(BusinessError.DUPLICATE_ORDER, "order x was already placed")
    assert business_failure(failure) == (Outcome.DUPLICATE_ORDER, "order x was already placed")


async def test_histories_replay_deterministically(harness: Harness) -> None:
    # Runs of its own, so the test does not depend on the others having run first.
    scenarios = [
        new_order(),
        new_order(("SKU-SOLDOUT", 1)),
        new_order(reference="decline-x"),
        new_order(address="undeliverable, nowhere"),
    ]
    for order in scenarios:
        await harness.run(order)
    duplicate = new_order()
    harness.shop.duplicates.add(duplicate.order_id)
    await harness.run(duplicate)
    histories = [await handle.fetch_history() for handle in harness.handles]
    assert len(histories) >= len(scenarios)

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    replayer = Replayer(
        workflows=[OrderWorkflow], data_converter=pydantic_data_converter, namespace=NAMESPACE
    )
    results = await replayer.replay_workflows(each(), raise_on_replay_failure=False)

    assert dict(results.replay_failures) == {}
