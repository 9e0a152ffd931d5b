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
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final, TypeVar

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    # cryptography (Ed25519 verification) comes in through orders.approvals, passed through.
    from orders import approvals, identities
    from orders.approvals import (
        AcceptedApproval,
        ApproverRegistry,
        Decision,
        RejectReason,
        SignedApproval,
    )
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

WORKFLOW_NAME: Final = identities.ORDER_WORKFLOW_TYPE
STATUS_QUERY: Final = identities.STATUS_QUERY
APPROVE_UPDATE: Final = identities.APPROVE_UPDATE
APPROVAL_SIGNAL: Final = identities.APPROVAL_SIGNAL
APPROVAL_REJECTED: Final = "ApprovalRejected"
"""``ApplicationError.type`` an ``approve`` Update is rejected with; the message is the
:class:`~orders.approvals.RejectReason` value."""
APPROVALS_PATCH: Final = "approvals-v1"
PLACED_BY_PATCH: Final = "placed-by-v1"
"""From this patch on, who placed the order is the principal the authorization front
authenticated (the ``orders-placed-by`` header), not the customer id the caller chose."""
UNKNOWN_PLACER: Final = "identity:unknown"
"""Submitter of a run that reached Temporal without the front's header: nobody is that
approver, but every approval is refused (see :meth:`OrderWorkflow._check`)."""
APPROVAL_STEP: Final = "approval"
"""Entry in ``completed_steps`` once the approvals an order needs are in."""
NO_APPROVAL: Final = "no valid approval before the deadline"
REJECTED_BY: Final = "rejected by approver {}"
WORKFLOW_ID_MISMATCH: Final = "WorkflowIdMismatch"
"""``ApplicationError.type`` failing a run whose workflow id is not its order's.

Temporal makes a workflow id unique, the order id only through this check: a run started
under any other id (say ``order-B`` for order A) could otherwise run a second saga for A."""

STEP_TIMEOUT: Final = timedelta(seconds=10)
"""One attempt of a step (start to close)."""
STEP_DEADLINE: Final = timedelta(minutes=10)
"""All attempts of a step (schedule to close): retries are bounded."""
STEP_RETRY: Final = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
)
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
class OrderWorkflow:
    """The order saga. Its ``status`` query answers where the order is at any time."""

    @workflow.init
    def __init__(self, order: SealedOrder) -> None:
        """Start with the order's status (queryable before the first step runs)."""
        self._status = OrderStatus(order_id=order.order_id, step=Step.STARTED)
        self._undo: list[str] = []
        # Histories from before PLACED_BY_PATCH compared approvers with the customer id.
        self._submitter = order.customer_id
        self._registry: ApproverRegistry | None = None
        self._awaiting = False

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> OrderStatus:
        """Current step, completed steps, compensations run, total and (at the end) outcome."""
        return self._status

    # --- approvals: two entry points, one verifier ------------------------------------

    @workflow.update(name=APPROVE_UPDATE)
    async def approve(self, approval: SignedApproval) -> AcceptedApproval:
        """Accept a signed approval (or rejection); the validator already verified it.

        Verified again here: another approval accepted between validation and this handler
        (same nonce, same approver) must not count twice. A refusal here fails the Update,
        never the workflow task.
        """
        reason = self._check(approval)
        if reason is not None:
            self._update(rejected_approvals=self._status.rejected_approvals + 1)
            raise ApplicationError(reason.value, type=APPROVAL_REJECTED, non_retryable=True)
        return self._accept(approval, via=APPROVE_UPDATE)

    @approve.validator
    def _validate_approve(self, approval: SignedApproval) -> None:
        """Refuse a bad approval before anything is written to history; the caller gets why."""
        reason = self._check(approval)
        if reason is not None:
            workflow.logger.warning(
                "approval refused",
                extra={"entry": APPROVE_UPDATE, "reason": reason.value, **_who(approval)},
            )
            raise ApplicationError(reason.value, type=APPROVAL_REJECTED, non_retryable=True)

    @workflow.signal(dynamic=True)
    def _signal(self, name: str, args: Sequence[RawValue]) -> None:
        """The ``approval`` signal, for fire-and-forget clients: raw input, never raises.

        A dynamic handler receives every signal as raw payloads, so no input (wrong count,
        wrong types, garbage) can fail in the SDK's conversion or in a handler call: each
        is parsed here, inside try/except, and verified by the same verifier as the Update.
        Anything refused is logged (one structured line) and counted in ``rejected_signals``.
        """
        if name != APPROVAL_SIGNAL:
            self._drop_signal(name, "unknown_signal")
            return
        try:
            if len(args) != 1:
                raise ValueError("exactly one argument expected")
            value = workflow.payload_converter().from_payload(args[0].payload)
            approval = SignedApproval.model_validate(value)
        except Exception:
            self._drop_signal(name, RejectReason.MALFORMED.value)
            return
        reason = self._check(approval)
        if reason is not None:
            self._drop_signal(name, reason.value, **_who(approval))
            return
        self._accept(approval, via=APPROVAL_SIGNAL)

    def _drop_signal(self, name: str, reason: str, **fields: Any) -> None:
        self._update(rejected_signals=self._status.rejected_signals + 1)
        workflow.logger.warning(
            "signal dropped",
            extra={"entry": "signal", "signal": name[:64], "reason": reason, **fields},
        )

    def _check(self, approval: SignedApproval) -> RejectReason | None:
        """Run the verifier against this workflow's own state and pinned registry."""
        total, currency = self._status.total_cents, self._status.currency
        if not self._awaiting or self._registry is None or total is None or currency is None:
            return RejectReason.NOT_AWAITING
        if self._submitter == UNKNOWN_PLACER:
            # Who placed it is not known, so nobody can be shown not to be them.
            return RejectReason.UNKNOWN_SUBMITTER
        info = workflow.info()
        accepted = self._status.approvals
        expected = approvals.Expected(
            namespace=info.namespace,
            workflow_id=info.workflow_id,
            order_id=self._status.order_id,
            amount_cents=total,
            currency=currency,
            submitter=self._submitter,
            now=workflow.now(),
            seen_nonces=frozenset(a.nonce for a in accepted),
            approved_by=frozenset(a.approver for a in accepted if a.decision is Decision.APPROVE),
        )
        try:
            return approvals.verify(approval, expected, self._registry)
        except Exception:  # the verifier is total; never let a bug fail the workflow task
            return RejectReason.MALFORMED

    def _accept(self, approval: SignedApproval, *, via: str) -> AcceptedApproval:
        msg = approval.message
        record = AcceptedApproval(
            approver=msg.approver,
            decision=msg.decision,
            key_version=approval.key_version or 0,
            accepted_at=approvals.format_time(workflow.now()),
            nonce=msg.nonce,
        )
        self._update(approvals=(*self._status.approvals, record))
        workflow.logger.info(
            "approval accepted",
            extra={"entry": via, "decision": msg.decision.value, **_who(approval)},
        )
        return record

    def _decided(self) -> bool:
        accepted = self._status.approvals
        if any(a.decision is Decision.REJECT for a in accepted):
            return True
        approvers = {a.approver for a in accepted if a.decision is Decision.APPROVE}
        return len(approvers) >= self._status.approvals_required

    async def _await_approval(self, order: SealedOrder, total_cents: int) -> str | None:
        """Wait for the approvals an order of ``total_cents`` needs.

        Returns:
            None when approved (or none needed); else the reason to reject the order.
        """
        policy = order.approval
        required = approvals.required_approvals(
            total_cents, policy.threshold_cents, policy.dual_threshold_cents
        )
        if required == 0:
            return None
        # Recorded in history: replay uses exactly these keys and limits (pinned for the run).
        self._registry = await workflow.execute_activity(
            identities.LOAD_APPROVERS,
            task_queue=identities.activity_identity(identities.LOAD_APPROVERS).task_queue,
            result_type=ApproverRegistry,
            start_to_close_timeout=STEP_TIMEOUT,
            schedule_to_close_timeout=STEP_DEADLINE,
            retry_policy=STEP_RETRY,
        )
        deadline = timedelta(seconds=policy.deadline_seconds)
        self._update(
            step=Step.AWAITING_APPROVAL,
            approvals_required=required,
            approval_deadline=approvals.format_time(workflow.now() + deadline),
        )
        self._awaiting = True
        try:
            await workflow.wait_condition(self._decided, timeout=deadline)
        except TimeoutError:
            return NO_APPROVAL
        finally:
            self._awaiting = False
        rejection = next((a for a in self._status.approvals if a.decision is Decision.REJECT), None)
        if rejection is not None:
            return REJECTED_BY.format(rejection.approver)
        self._update(completed_steps=(*self._status.completed_steps, APPROVAL_STEP))
        return None

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
        return self._status

    def _update(self, **changes: Any) -> None:
        self._status = self._status.model_copy(update=changes)


def placed_by() -> str:
    """Who placed this run's order, as the authorization front recorded it.

    A person is their login name (what an approver signs as); an identity keeps its
    ``identity:`` prefix, so it never equals an approver. Without the header (a run that
    did not come through the front) :data:`UNKNOWN_PLACER`.
    """
    payload = workflow.info().headers.get(identities.PLACED_BY_HEADER)
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


def _who(approval: SignedApproval) -> dict[str, Any]:
    """Log fields of an approval (no signature, nothing secret)."""
    msg = approval.message
    return {"approver": msg.approver, "nonce": msg.nonce, "key_version": approval.key_version}


__all__ = ["WORKFLOW_ID_MISMATCH", "OrderWorkflow", "business_failure"]
