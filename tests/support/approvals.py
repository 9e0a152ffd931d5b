"""Approval test cases shared by the unit (local dev server) and integration (real stack) tests.

A :class:`Signer` produces ``vault:vN:<base64>`` signatures: locally generated Ed25519 keys
in the unit tests, the approvers' own Vault logins on the real stack. The cases build one
approval per rejection reason against a given order and send it through the Update or the
signal; every one must be refused and leave the order waiting. The order reference, signing
and sending live in :mod:`orders.verify.approvals` (``orders verify`` sends them too).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from temporalio.client import WorkflowHandle

from orders.approvals import (
    ApprovalMessage,
    RejectReason,
    SignedApproval,
    canonical_bytes,
)
from orders.contract.api import STATUS_QUERY
from orders.models import OrderItem, OrderRequest, OrderStatus
from orders.verify.approvals import OrderRef as Target
from orders.verify.approvals import Signer, nonce, send_signal, send_update, signed

__all__ = ["Signer", "Target", "nonce", "rejection_cases", "send_signal", "send_update", "signed"]


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


def fuzz_values(count: int = 80) -> list[Any]:
    """Values drawn by hypothesis (sent afterwards: the workflow client is async)."""
    values: list[Any] = []

    @settings(max_examples=count, deadline=None, database=None)
    @given(value=HOSTILE)
    def collect(value: Any) -> None:
        values.append(value)

    collect()
    return values


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=12,
)

APPROVAL_KEYS = ("message", "signature")

MESSAGE_KEYS = (
    "version",
    "namespace",
    "workflow_id",
    "order_id",
    "amount_cents",
    "currency",
    "decision",
    "approver",
    "nonce",
    "issued_at",
    "expires_at",
)

SHAPED = st.fixed_dictionaries(
    {
        "message": st.fixed_dictionaries({k: JSONISH for k in MESSAGE_KEYS}),
        "signature": st.one_of(st.text(max_size=120), JSONISH),
    }
)

HOSTILE = st.one_of(JSONISH, SHAPED, st.binary(max_size=64).map(lambda b: b.hex()))


def large(*, customer: str = "cust-approvals", laptops: int = 1) -> OrderRequest:
    """An order over the approval threshold (laptops)."""
    return OrderRequest(
        order_id=f"ord-{uuid.uuid4()}",
        customer_id=customer,
        customer_email="ann@example.org",
        shipping_address="12 Quay Street, Dublin",
        payment_reference="tok-4242",
        items=(OrderItem(sku="SKU-LAPTOP", quantity=laptops),),
    )


async def status_of(handle: WorkflowHandle[Any, Any]) -> OrderStatus:
    """The workflow's status query."""
    status: OrderStatus = await handle.query(STATUS_QUERY, result_type=OrderStatus)
    return status
