"""Signed approvals as a caller sends them: the order they bind, signing, Update and signal.

Shared by ``orders verify`` (forged and replayed approvals on a live deployment) and the
approval tests (tests/support/approvals.py builds every rejection reason on top of these).
A :data:`Signer` produces ``vault:vN:<base64>`` signatures: the approver's own Vault login
on a deployment, local Ed25519 keys in unit tests.
"""

from __future__ import annotations

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
from orders.contract.api import APPROVAL_REJECTED, APPROVAL_SIGNAL, APPROVE_UPDATE, STATUS_QUERY
from orders.models import OrderStatus

Signer = Callable[[str, bytes], Awaitable[str]]
"""(approver name, message bytes) -> signature made with that approver's key."""


def nonce() -> str:
    """A fresh nonce."""
    return secrets.token_urlsafe(18)


@dataclass
class OrderRef:
    """The order an approval is for, as the client sees it in the ``status`` query."""

    namespace: str
    workflow_id: str
    order_id: str
    amount_cents: int
    currency: str

    @classmethod
    async def of(cls, handle: WorkflowHandle[Any, Any], namespace: str) -> OrderRef:
        """The order behind ``handle`` (its validated amount and currency)."""
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
        """An approval message for this order (``override``: fields to change after)."""
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


async def forged_and_replayed(
    target: OrderRef, other: OrderRef, sign: Signer, approver: str
) -> list[tuple[RejectReason, SignedApproval]]:
    """The attacks ``orders verify`` tries on a deployment, each with the expected refusal.

    A made-up signature, a genuine one over other content (the amount lowered afterwards),
    a genuine approval of ``other`` replayed on ``target``, an expired one, and one
    claiming another namespace.
    """
    tampered = await signed(sign, target.message(approver))
    tampered = tampered.model_copy(
        update={"message": tampered.message.model_copy(update={"amount_cents": 1})}
    )
    expired = target.message(approver, issued_at=datetime.now(UTC) - timedelta(minutes=20))
    return [
        (
            RejectReason.BAD_SIGNATURE,
            SignedApproval(
                message=target.message(approver), signature="vault:v1:" + "A" * 86 + "=="
            ),
        ),
        (RejectReason.BAD_SIGNATURE, tampered),
        (RejectReason.WRONG_WORKFLOW, await signed(sign, other.message(approver))),
        (RejectReason.EXPIRED, await signed(sign, expired)),
        (
            RejectReason.WRONG_NAMESPACE,
            await signed(sign, target.message(approver, namespace="billing")),
        ),
    ]
