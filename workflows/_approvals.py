"""Approvals in OrderWorkflow: the ``approve`` Update, the ``approval`` signal, the wait.

:class:`ApprovalGate` is the part of :class:`~workflows.order.OrderWorkflow` that waits for
signed approvals; the workflow class inherits its handlers. Every approval goes through one
verifier (:func:`orders.approvals.verify`) against the approver registry recorded in
history.

When is the registry read? Once when the order starts waiting (the validator refuses
anything that does not verify against it, before history), and again, for the approvers
concerned (FRESH_REGISTRY_PATCH), when an approval that verified arrives through the Update
and before the decision is final. Membership of ``order-approvers`` and the key versions in
force are thus those at verification time: an approver removed, or a key version retired,
while the order waits cannot approve it, and an approval already accepted from them is
revoked (:class:`~orders.approvals.RevokedApproval`) if the decision is not final yet. The
reads are activities, so the refusal is decided from what history recorded. Alternatives
weighed: trusting the first read (the finding: up to the deadline, 24 h, stale), re-reading
on a timer (costs reads on every waiting order, still stale between reads), or reading on
every message (an unauthenticated caller could make the workflow read at will; here only a
signature that verified costs a read).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ActivityError, ApplicationError

from workflows import _metrics
from workflows._options import STEP_DEADLINE, STEP_RETRY, STEP_TIMEOUT

with workflow.unsafe.imports_passed_through():
    # cryptography (Ed25519 verification) comes in through orders.approvals, passed through.
    # "import a.b as c", not "from a import b": the sandbox passes a module through only
    # when it is named in the import itself, not when it is reached through its package.
    import orders.approvals as approvals
    from orders.approvals import (
        AcceptedApproval,
        ApproverRegistry,
        Decision,
        RegistryRequest,
        RejectReason,
        RevokedApproval,
        SignedApproval,
    )
    from orders.contract import api, identities
    from orders.models import OrderStatus, SealedOrder, Step

APPROVE_UPDATE: Final = api.APPROVE_UPDATE
APPROVAL_SIGNAL: Final = api.APPROVAL_SIGNAL
APPROVAL_REJECTED: Final = api.APPROVAL_REJECTED
"""``ApplicationError.type`` an ``approve`` Update is rejected with; the message is the
:class:`~orders.approvals.RejectReason` value."""
FRESH_REGISTRY_PATCH: Final = "approvers-fresh-v1"
"""From this patch on, the approver registry is read again when an approval arrives through
the Update and before the decision is final (see the module docstring)."""
CONFIRM_DEADLINE: Final = timedelta(minutes=1)
"""All attempts of the registry read an ``approve`` Update waits for: its caller is waiting."""
UNKNOWN_PLACER: Final = "identity:unknown"
"""Submitter of a run that reached Temporal without the front's header: nobody is that
approver, but every approval is refused (see :meth:`ApprovalGate._check`)."""
APPROVAL_STEP: Final = "approval"
"""Entry in ``completed_steps`` once the approvals an order needs are in."""
NO_APPROVAL: Final = "no valid approval before the deadline"
REJECTED_BY: Final = "rejected by approver {}"


class ApprovalGate:
    """Approval state and handlers of the order workflow (a base class of it).

    Attributes:
        _status: The order's status (the ``status`` query), approvals included.
        _submitter: Who placed the order (may not approve it).
    """

    _status: OrderStatus
    _submitter: str

    def _init_approvals(self) -> None:
        """Nothing pinned, nothing accepted yet (called from the workflow's ``__init__``)."""
        self._registry: ApproverRegistry | None = None
        self._awaiting = False
        # Set once per run from FRESH_REGISTRY_PATCH (False when replaying older histories).
        self._fresh = False
        self._signed: dict[str, SignedApproval] = {}
        """Nonce -> every approval accepted in this run, to check again on a fresh read."""
        self._confirmed: set[str] = set()
        """Nonces of accepted approvals checked against a read made after their acceptance."""

    def _update(self, **changes: Any) -> None:
        self._status = self._status.model_copy(update=changes)

    @workflow.update(name=APPROVE_UPDATE)
    async def approve(self, approval: SignedApproval) -> AcceptedApproval:
        """Accept a signed approval (or rejection); the validator already verified it.

        Verified again here: another approval accepted between validation and this handler
        (same nonce, same approver) must not count twice. Then (FRESH_REGISTRY_PATCH) the
        registry is read again for its approver and everyone already accepted, and the
        approval is verified against that record: removed from ``order-approvers`` or
        signed with a retired key version since the order started waiting, it is refused
        now, with that reason. A refusal here fails the Update, never the workflow task.
        """
        reason = self._check(approval)
        if reason is None and self._fresh:
            reason = await self._check_fresh(approval)
        if reason is not None:
            self._update(rejected_approvals=self._status.rejected_approvals + 1)
            _metrics.approval_rejected(_metrics.UPDATE, reason.value)
            raise ApplicationError(reason.value, type=APPROVAL_REJECTED, non_retryable=True)
        accepted = self._accept(approval, via=APPROVE_UPDATE)
        self._confirmed.add(accepted.nonce)
        return accepted

    @approve.validator
    def _validate_approve(self, approval: SignedApproval) -> None:
        """Refuse a bad approval before anything is written to history; the caller gets why."""
        reason = self._check(approval)
        if reason is not None:
            workflow.logger.warning(
                "approval refused",
                extra={"entry": APPROVE_UPDATE, "reason": reason.value, **_who(approval)},
            )
            _metrics.approval_rejected(_metrics.VALIDATOR, reason.value)
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
        _metrics.approval_rejected(_metrics.SIGNAL, reason)
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
            seen_nonces=frozenset(a.nonce for a in accepted)
            | frozenset(r.nonce for r in self._status.revoked_approvals),
            approved_by=frozenset(a.approver for a in accepted if a.decision is Decision.APPROVE),
        )
        try:
            return approvals.verify(approval, expected, self._registry)
        except Exception:  # the verifier is total; never let a bug fail the workflow task
            return RejectReason.MALFORMED

    async def _check_fresh(self, approval: SignedApproval) -> RejectReason | None:
        """Read the registry for this approval's signer (and the accepted ones), check again."""
        names = {a.approver for a in self._status.approvals} | {approval.message.approver}
        try:
            await self._refresh(names, deadline=CONFIRM_DEADLINE)
        except ActivityError:
            return RejectReason.REGISTRY_UNAVAILABLE
        return self._check(approval)

    async def _refresh(self, names: set[str], *, deadline: timedelta) -> None:
        """Read ``names`` from the registry again (recorded), then re-check accepted approvals.

        The fresh entries replace the pinned ones; every accepted approval by one of
        ``names`` is checked with :func:`orders.approvals.standing` against them: confirmed,
        or revoked (moved to ``revoked_approvals`` with the reason) when its approver was
        removed or its key version retired since it was accepted.

        Raises:
            ActivityError: The registry could not be read within ``deadline``.
        """
        fresh = await workflow.execute_activity(
            identities.LOAD_APPROVERS,
            RegistryRequest(names=tuple(sorted(names))),
            task_queue=identities.activity_identity(identities.LOAD_APPROVERS).task_queue,
            result_type=ApproverRegistry,
            start_to_close_timeout=STEP_TIMEOUT,
            schedule_to_close_timeout=deadline,
            retry_policy=STEP_RETRY,
        )
        self._registry = (self._registry or ApproverRegistry()).merged(fresh, frozenset(names))
        kept: list[AcceptedApproval] = []
        revoked: list[RevokedApproval] = []
        for record in self._status.approvals:
            signed = self._signed.get(record.nonce)
            reason = None if signed is None else approvals.standing(signed, self._registry)
            if record.approver not in names or reason is None:
                kept.append(record)
                if record.approver in names:
                    self._confirmed.add(record.nonce)
                continue
            revoked.append(
                RevokedApproval(
                    approver=record.approver,
                    decision=record.decision,
                    key_version=record.key_version,
                    nonce=record.nonce,
                    reason=reason,
                    revoked_at=approvals.format_time(workflow.now()),
                )
            )
            workflow.logger.warning(
                "approval revoked",
                extra={"reason": reason.value, "approver": record.approver, "nonce": record.nonce},
            )
        if revoked:
            self._update(
                approvals=tuple(kept),
                revoked_approvals=(*self._status.revoked_approvals, *revoked),
            )

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
        self._signed[msg.nonce] = approval
        _metrics.approval_accepted(
            _metrics.UPDATE if via == APPROVE_UPDATE else _metrics.SIGNAL, msg.decision
        )
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
        self._fresh = workflow.patched(FRESH_REGISTRY_PATCH)
        self._registry = await workflow.execute_activity(
            identities.LOAD_APPROVERS,
            args=[RegistryRequest()] if self._fresh else [],
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
            if self._fresh:
                await self._await_decision(deadline)
            else:
                await workflow.wait_condition(self._decided, timeout=deadline)
        except TimeoutError:
            return NO_APPROVAL
        finally:
            self._awaiting = False
            if self._fresh:
                # An Update still reading the registry answers (refused) before we go on.
                await workflow.wait_condition(workflow.all_handlers_finished)
        rejection = next((a for a in self._status.approvals if a.decision is Decision.REJECT), None)
        if rejection is not None:
            return REJECTED_BY.format(rejection.approver)
        self._update(completed_steps=(*self._status.completed_steps, APPROVAL_STEP))
        return None

    async def _await_decision(self, deadline: timedelta) -> None:
        """Wait until decided by approvals confirmed by a read made after their acceptance.

        Raises:
            TimeoutError: No confirmed decision within ``deadline``.
        """
        until = workflow.now() + deadline
        while True:
            if not self._decided():
                remaining = until - workflow.now()
                if remaining <= timedelta(0):
                    raise TimeoutError
                await workflow.wait_condition(self._decided, timeout=remaining)
            accepted = self._status.approvals
            if all(a.nonce in self._confirmed for a in accepted):
                return
            await self._refresh({a.approver for a in accepted}, deadline=STEP_DEADLINE)


def _who(approval: SignedApproval) -> dict[str, Any]:
    """Log fields of an approval (no signature, nothing secret)."""
    msg = approval.message
    return {"approver": msg.approver, "nonce": msg.nonce, "key_version": approval.key_version}
