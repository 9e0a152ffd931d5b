"""OrderWorkflow: validate, reserve, pay, fulfil, notify; compensate on a business failure.

The workflow runs under the order-workflow identity, which has no database access and
registers no activities: every step is scheduled by name on the task queue of the identity
that owns it, so each runs in its own worker under its own credentials.

A business failure (an activity's non-retryable ``ApplicationError`` whose type is a
:class:`BusinessError`) ends the saga: completed steps are undone in reverse order, and the
workflow *completes* with an outcome saying what happened. Any other failure (retries
exhausted, a broken invariant) is also compensated and then fails the workflow, so it shows
up as failed for an operator.

The order arrives with its need-to-know fields sealed by the client (see
``orders.security.sealing``): the workflow passes those ciphertexts on untouched and has no
means to open them, so neither this worker nor the workflow history ever holds the plaintext.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Final, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows import _metrics
from workflows._approvals import (
    APPROVAL_REJECTED,
    APPROVAL_SIGNAL,
    APPROVAL_STEP,
    APPROVE_UPDATE,
    NO_APPROVAL,
    UNKNOWN_PLACER,
    ApprovalGate,
)
from workflows._options import STEP_DEADLINE, STEP_RETRY, STEP_TIMEOUT

with workflow.unsafe.imports_passed_through():
    from orders.contract import api, identities
    from orders.models import (
        BusinessError,
        Model,
        Notification,
        OrderRef,
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
        workflow_id_for,
    )

WORKFLOW_NAME: Final = api.ORDER_WORKFLOW_TYPE
STATUS_QUERY: Final = api.STATUS_QUERY
APPROVALS_PATCH: Final = "approvals-v1"
PLACED_BY_PATCH: Final = "placed-by-v1"
"""From this patch on, who placed the order is the principal the authorization front
authenticated (the ``orders-placed-by`` header), not the customer id the caller chose."""
WORKFLOW_ID_MISMATCH: Final = "WorkflowIdMismatch"
"""``ApplicationError.type`` failing a run whose workflow id is not its order's.

Temporal makes a workflow id unique, the order id only through this check: a run started
under any other id (say ``order-B`` for order A) could otherwise run a second saga for A."""

COMPENSATION_DEADLINE: Final = timedelta(hours=1)
"""Undoing must not give up as early as doing: a leaked hold or charge costs more."""

OUTCOMES: Final[dict[str, Outcome]] = {
    BusinessError.INVALID_ORDER: Outcome.INVALID,
    BusinessError.OUT_OF_STOCK: Outcome.OUT_OF_STOCK,
    BusinessError.PAYMENT_DECLINED: Outcome.PAYMENT_DECLINED,
    BusinessError.UNDELIVERABLE: Outcome.FULFILLMENT_FAILED,
    BusinessError.DUPLICATE_ORDER: Outcome.DUPLICATE_ORDER,
}
"""Business failure type -> the order's outcome."""

COMPENSATION_RESULTS: Final[dict[str, type[Model]]] = {
    identities.REFUND_PAYMENT: PaymentResult,
    identities.RELEASE_INVENTORY: Reservation,
}

NOTIFY_FAILED: Final = "customer notification failed"

_M = TypeVar("_M", bound=Model)


def business_failure(err: ActivityError) -> tuple[Outcome, str] | None:
    """The outcome and reason of a business failure behind ``err``; None for any other."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.type is not None:
        outcome = OUTCOMES.get(cause.type)
        if outcome is not None:
            return outcome, cause.message
    return None


@workflow.defn(name=WORKFLOW_NAME)
class OrderWorkflow(ApprovalGate):
    """The order saga. Its ``status`` query answers where the order is at any time.

    Orders above the approval threshold wait for signed approvals between reserving and
    paying; the ``approve`` Update and the ``approval`` signal come from
    :class:`~workflows._approvals.ApprovalGate`.
    """

    @workflow.init
    def __init__(self, order: SealedOrder) -> None:
        """Start with the order's status (queryable before the first step runs)."""
        self._status = OrderStatus(order_id=order.order_id, step=Step.STARTED)
        self._undo: list[str] = []
        # Histories from before PLACED_BY_PATCH compared approvers with the customer id.
        self._submitter = order.customer_id
        self._init_approvals()

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> OrderStatus:
        """Current step, completed steps, compensations run, total and (at the end) outcome."""
        return self._status

    @workflow.run
    async def run(self, order: SealedOrder) -> OrderStatus:
        """Process ``order`` to an outcome.

        Args:
            order: The customer order as the client validated and sealed it; its sealed
                fields are only ever passed on (the payment reference to process_payment).

        Returns:
            The final status; ``outcome`` is ``COMPLETED`` or the business failure.

        Raises:
            ActivityError: A step failed for a non-business reason (after compensation).
            ApplicationError: A compensation could not be completed, or
                ``WorkflowIdMismatch``: the run's workflow id is not its order's (nothing ran).
        """
        # Before any command: a passing check adds nothing to history, so every existing
        # history replays unchanged; a failing one schedules no activity at all.
        expected_id = workflow_id_for(order.order_id)
        actual_id = workflow.info().workflow_id
        if actual_id != expected_id:
            raise ApplicationError(
                f"workflow id {actual_id} does not match order {order.order_id} "
                f"(expected {expected_id}); nothing was done",
                type=WORKFLOW_ID_MISMATCH,
                non_retryable=True,
            )
        ref = OrderRef(order_id=order.order_id)
        if workflow.patched(PLACED_BY_PATCH):
            self._submitter = placed_by()
        try:
            validated = await self._step(
                Step.VALIDATING, identities.VALIDATE_ORDER, order, ValidatedOrder
            )
            # The recorded order's amount (validate reads it back on a retry): the status,
            # the approval threshold and the approvers' signatures all use this one.
            self._update(total_cents=validated.total_cents, currency=validated.currency)
            await self._step(
                Step.RESERVING,
                identities.RESERVE_INVENTORY,
                ReserveRequest(order_id=order.order_id, items=order.items),
                Reservation,
                undo=identities.RELEASE_INVENTORY,
                # Release is a no-op when nothing is held: safe even if reserve never committed.
                undo_when_unsure=True,
            )
            # Histories started before approvals existed replay without the gate.
            if workflow.patched(APPROVALS_PATCH):
                refusal = await self._await_approval(order, validated.total_cents)
                if refusal is not None:
                    await self._compensate(ref)
                    return self._finish(Outcome.REJECTED, refusal)
            await self._step(
                Step.PAYING,
                identities.PROCESS_PAYMENT,
                PaymentRequest(order_id=order.order_id, payment_reference=order.payment_reference),
                PaymentResult,
                undo=identities.REFUND_PAYMENT,
            )
            await self._step(Step.FULFILLING, identities.FULFILL_ORDER, ref, Shipment)
        except ActivityError as err:
            failure = business_failure(err)
            await self._compensate(ref)
            if failure is None:
                workflow.logger.warning("order step failed; compensated, failing the workflow")
                raise
            # Activities keep PII out of business failure messages, so it can be the reason.
            return self._finish(*failure)
        try:
            await self._step(Step.NOTIFYING, identities.NOTIFY_CUSTOMER, ref, Notification)
        except ActivityError:
            # The goods are on their way: a missed e-mail is no reason to refund.
            workflow.logger.warning("notification failed; order stays completed")
            return self._finish(Outcome.COMPLETED, NOTIFY_FAILED)
        return self._finish(Outcome.COMPLETED, None)

    async def _step(
        self,
        step: Step,
        activity: str,
        arg: Model,
        result_type: type[_M],
        *,
        undo: str | None = None,
        undo_when_unsure: bool = False,
    ) -> _M:
        """Run ``activity`` on its identity's queue; remember ``undo`` once it may be needed.

        Args:
            step: Status step while the activity runs.
            activity: Activity name from the contract.
            arg: Its one argument.
            result_type: Its result model.
            undo: Compensation activity (taking an ``OrderRef``) for a completed step.
            undo_when_unsure: Also compensate when the step failed for a non-business
                reason (its effect may have been committed).
        """
        self._update(step=step)
        try:
            result: _M = await workflow.execute_activity(
                activity,
                arg,
                task_queue=identities.activity_identity(activity).task_queue,
                result_type=result_type,
                start_to_close_timeout=STEP_TIMEOUT,
                schedule_to_close_timeout=STEP_DEADLINE,
                retry_policy=STEP_RETRY,
            )
        except ActivityError as err:
            if undo is not None and undo_when_unsure and business_failure(err) is None:
                self._undo.append(undo)
            raise
        if undo is not None:
            self._undo.append(undo)
        self._update(completed_steps=(*self._status.completed_steps, activity))
        return result

    async def _compensate(self, ref: OrderRef) -> None:
        """Run the remembered compensations in reverse; each retries on its own."""
        if not self._undo:
            return
        self._update(step=Step.COMPENSATING)
        failed: list[str] = []
        for activity in reversed(self._undo):
            try:
                await workflow.execute_activity(
                    activity,
                    ref,
                    task_queue=identities.activity_identity(activity).task_queue,
                    result_type=COMPENSATION_RESULTS[activity],
                    start_to_close_timeout=STEP_TIMEOUT,
                    schedule_to_close_timeout=COMPENSATION_DEADLINE,
                    retry_policy=STEP_RETRY,
                )
            except ActivityError:
                # Still try the others: one stuck refund must not also leak held stock.
                failed.append(activity)
                continue
            self._update(compensations=(*self._status.compensations, activity))
        self._undo.clear()
        if failed:
            raise ApplicationError(
                f"compensation failed: {', '.join(failed)}", type="CompensationFailed"
            )

    def _finish(self, outcome: Outcome, reason: str | None) -> OrderStatus:
        self._update(step=Step.DONE, outcome=outcome, reason=reason)
        workflow.logger.info("order finished: %s", outcome.value)
        _metrics.order_finished(outcome.value)
        return self._status


def placed_by() -> str:
    """Who placed this run's order, as the authorization front recorded it.

    A person is their login name (what an approver signs as); an identity keeps its
    ``identity:`` prefix, so it never equals an approver. Without the header (a run that
    did not come through the front) :data:`UNKNOWN_PLACER`.
    """
    payload = workflow.info().headers.get(api.PLACED_BY_HEADER)
    if payload is None:
        return UNKNOWN_PLACER
    try:
        label = json.loads(payload.data)
    except ValueError:
        return UNKNOWN_PLACER
    if not isinstance(label, str) or ":" not in label:
        return UNKNOWN_PLACER
    kind, _, name = label.partition(":")
    return name if kind == "person" else label


__all__ = [
    "APPROVAL_REJECTED",
    "APPROVAL_SIGNAL",
    "APPROVAL_STEP",
    "APPROVE_UPDATE",
    "NO_APPROVAL",
    "WORKFLOW_ID_MISMATCH",
    "OrderWorkflow",
    "business_failure",
]
