"""OrderWorkflow on a real Temporal dev server, with one worker per identity queue.

The stand-in activities and the harness are in ``shop.py`` (shared with the golden-history
recorder); each identity's worker registers only its own activities, so a step scheduled on
the wrong queue would never run. Every history produced is replayed at the end to prove
determinism.

Orders are sealed as the client seals them, against a real OpenBao with the project's
policies; the stand-ins of the consuming activities unseal with their identity's own
token, so the workflow is proven to pass the sealed values through untouched and its
history is proven to hold no plaintext.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import Replayer

from orders.contract import identities
from orders.models import BusinessError, OrderStatus, Outcome, Step
from orders.observability import tracing
from tests.support.golden import NAMESPACE
from tests.support.shop import (
    EMAIL,
    FULFILL,
    HAPPY_STEPS,
    NOTIFY,
    PAY,
    REFUND,
    RELEASE,
    RESERVE,
    VALIDATE,
    Harness,
    business,
    new_order,
)
from tests.support.spans import Collected, as_dicts, check_links, trace_of
from tests.support.wait import wait_for
from workflows import OrderWorkflow
from workflows.order import (
    NOTIFY_FAILED,
    OUTCOMES,
    STATUS_QUERY,
    WORKFLOW_ID_MISMATCH,
    business_failure,
)


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


async def test_undeliverable_refunds_then_releases(harness: Harness, spans: Collected) -> None:
    order = new_order(address="Undeliverable Road 1, Atlantis")

    status = await harness.run(order)

    assert status.outcome is Outcome.FULFILLMENT_FAILED
    assert status.step is Step.DONE
    assert status.completed_steps == (VALIDATE, RESERVE, PAY)
    assert status.compensations == (REFUND, RELEASE)
    assert harness.shop.steps(order.order_id) == [VALIDATE, RESERVE, PAY, FULFILL, REFUND, RELEASE]
    assert "Atlantis" not in (status.reason or "")
    assert_no_pii(status)

    # One trace from the client's start through every step and compensation; the spans
    # carry ids, never the order (the workflow's argument) or an activity's.
    trace = trace_of(as_dicts(spans.spans), order.workflow_id)
    check_links(trace, order.workflow_id)
    ran = [s["name"] for s in trace if s["name"].startswith("RunActivity:")]
    assert sorted(ran) == sorted(
        f"RunActivity:{step}" for step in harness.shop.steps(order.order_id)
    )
    assert {k for s in trace for k in s["attributes"]} <= tracing.SPAN_ATTRIBUTES
    text = json.dumps(trace)
    for value in (order.customer_id, order.customer_email, order.shipping_address, "Atlantis"):
        assert value not in text, value


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
    sealed = await harness.seals.seal_order(victim)
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
