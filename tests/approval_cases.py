"""Approval test cases shared by the unit (local dev server) and integration (real stack) tests.

A :class:`Signer` produces ``vault:vN:<base64>`` signatures: locally generated Ed25519 keys
in the unit tests, the approvers' own Vault logins on the real stack. The cases build one
approval per rejection reason against a given order and send it through the Update or the
signal; every one must be refused and leave the order waiting.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from orders.approvals import (
    ApprovalMessage,
    Decision,
    RejectReason,
    SignedApproval,
    canonical_bytes,
    new_message,
)
from orders.models import OrderStatus
from workflows.order import APPROVAL_REJECTED, APPROVAL_SIGNAL, APPROVE_UPDATE, STATUS_QUERY

Signer = Callable[[str, bytes], Awaitable[str]]
"""(approver name, message bytes) -> signature made with that approver's key."""


def nonce() -> str:
    """A fresh nonce."""
    return secrets.token_urlsafe(18)


@dataclass
class Target:
    """The order an approval is for, as the client sees it in the ``status`` query."""

    namespace: str
    workflow_id: str
    order_id: str
    amount_cents: int
    currency: str

    @classmethod
    async def of(cls, handle: WorkflowHandle[Any, Any], namespace: str) -> Target:
        status = await handle.query(STATUS_QUERY, result_type=OrderStatus)
        assert status.total_cents is not None
        assert status.currency is not None
        return cls(namespace, handle.id, status.order_id, status.total_cents, status.currency)

    def message(
        self,
        approver: str,
        *,
        decision: Decision = Decision.APPROVE,
        issued_at: datetime | None = None,
        valid_for: timedelta = timedelta(minutes=10),
        **override: Any,
    ) -> ApprovalMessage:
        msg = new_message(
            namespace=self.namespace,
            workflow_id=self.workflow_id,
            order_id=self.order_id,
            amount_cents=self.amount_cents,
            currency=self.currency,
            decision=decision,
            approver=approver,
            nonce=nonce(),
            issued_at=issued_at or datetime.now(UTC),
            valid_for=valid_for,
        )
        return msg.model_copy(update=override) if override else msg


async def signed(sign: Signer, msg: ApprovalMessage, *, as_: str | None = None) -> SignedApproval:
    """``msg`` signed by ``as_`` (default: its own approver)."""
    return SignedApproval(
        message=msg, signature=await sign(as_ or msg.approver, canonical_bytes(msg))
    )


async def send_update(handle: WorkflowHandle[Any, Any], approval: Any) -> RejectReason | None:
    """Send through the Update; the reason it was rejected, or None if accepted."""
    try:
        await handle.execute_update(APPROVE_UPDATE, approval)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        assert isinstance(cause, ApplicationError), cause
        if cause.type == APPROVAL_REJECTED:
            return RejectReason(cause.message)
        return RejectReason.MALFORMED  # refused by the SDK's argument conversion
    return None


async def send_signal(handle: WorkflowHandle[Any, Any], approval: Any) -> None:
    """Send through the fire-and-forget signal."""
    await handle.signal(APPROVAL_SIGNAL, approval)


async def rejection_cases(
    target: Target, sign: Signer, *, other_target: Target, over_limit: str, inactive: str
) -> list[tuple[RejectReason, SignedApproval]]:
    """One approval per single-approval rejection reason, against ``target``."""
    good = "bob"
    now = datetime.now(UTC)
    tampered = await signed(sign, target.message(good))
    tampered = tampered.model_copy(
        update={"message": tampered.message.model_copy(update={"amount_cents": 1})}
    )
    forged_sig = SignedApproval(
        message=target.message(good), signature="vault:v1:" + "A" * 86 + "=="
    )
    return [
        (RejectReason.BAD_SIGNATURE, forged_sig),
        (RejectReason.WRONG_AMOUNT, await signed(sign, target.message(good, amount_cents=1))),
        # Signed over other content than it carries.
        (RejectReason.BAD_SIGNATURE, tampered),
        # Claims to be bob, signed with dave's key.
        (RejectReason.BAD_SIGNATURE, await signed(sign, target.message(good), as_="dave")),
        (RejectReason.UNKNOWN_APPROVER, await signed(sign, target.message("mallory"), as_=good)),
        (RejectReason.INACTIVE_APPROVER, await signed(sign, target.message(inactive))),
        (
            RejectReason.UNKNOWN_KEY_VERSION,
            SignedApproval(
                message=(m := target.message(good)),
                signature=re.sub(
                    r"^vault:v\d+:", "vault:v999:", await sign(good, canonical_bytes(m))
                ),
            ),
        ),
        (
            RejectReason.WRONG_NAMESPACE,
            await signed(sign, target.message(good, namespace="billing")),
        ),
        (
            RejectReason.WRONG_WORKFLOW,
            await signed(sign, target.message(good, workflow_id=other_target.workflow_id)),
        ),
        (
            RejectReason.WRONG_ORDER,
            await signed(sign, target.message(good, order_id=other_target.order_id)),
        ),
        (RejectReason.WRONG_CURRENCY, await signed(sign, target.message(good, currency="USD"))),
        # A valid approval of another order: replayed here.
        (RejectReason.WRONG_WORKFLOW, await signed(sign, _for(other_target, good))),
        (
            RejectReason.EXPIRED,
            await signed(sign, target.message(good, issued_at=now - timedelta(minutes=20))),
        ),
        (
            RejectReason.NOT_YET_VALID,
            await signed(sign, target.message(good, issued_at=now + timedelta(hours=1))),
        ),
        (
            RejectReason.LIFETIME_TOO_LONG,
            await signed(sign, target.message(good, valid_for=timedelta(days=30))),
        ),
        (RejectReason.OVER_LIMIT, await signed(sign, target.message(over_limit))),
    ]


def _for(target: Target, approver: str) -> ApprovalMessage:
    return target.message(approver)
