"""orders.approvals (pure): canonical encoding, the verifier's reasons; approver policies."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import ValidationError

from orders.approvals import (
    ApprovalMessage,
    ApproverRegistry,
    Decision,
    Expected,
    PinnedApprover,
    RejectReason,
    SignedApproval,
    canonical_bytes,
    new_message,
    required_approvals,
    standing,
    verify,
)
from orders.contract import approval_policy
from orders.models import ApprovalPolicy
from orders.vault.approvers import group_policy, signs_with

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
KEYS = {a.name: Ed25519PrivateKey.generate() for a in approval_policy.APPROVERS}


def registry() -> ApproverRegistry:
    return ApproverRegistry(
        approvers=tuple(
            PinnedApprover(
                name=a.name,
                limit_cents=a.limit_cents,
                active=a.active,
                public_keys={
                    1: base64.b64encode(
                        KEYS[a.name].public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
                    ).decode()
                },
            )
            for a in approval_policy.APPROVERS
        )
    )


EXPECTED = Expected(
    namespace="orders",
    workflow_id="order-o-12345678",
    order_id="o-12345678",
    amount_cents=150_000,
    currency="EUR",
    submitter="cust-1",
    now=NOW,
)


def message(approver: str = "bob", **override: object) -> ApprovalMessage:
    msg = new_message(
        namespace="orders",
        workflow_id="order-o-12345678",
        order_id="o-12345678",
        amount_cents=150_000,
        currency="EUR",
        decision=Decision.APPROVE,
        approver=approver,
        nonce="n" * 20,
        issued_at=NOW - timedelta(minutes=1),
    )
    return msg.model_copy(update=override)


def sign(msg: ApprovalMessage, key: str | None = None) -> SignedApproval:
    sig = KEYS[key or msg.approver].sign(canonical_bytes(msg))
    return SignedApproval(message=msg, signature="vault:v1:" + base64.b64encode(sig).decode())


def test_canonical_encoding_is_sorted_compact_json() -> None:
    data = canonical_bytes(message())
    assert data == (
        b'{"amount_cents":150000,"approver":"bob","currency":"EUR","decision":"approve",'
        b'"expires_at":"2026-03-01T12:14:00Z","issued_at":"2026-03-01T11:59:00Z",'
        b'"namespace":"orders","nonce":"nnnnnnnnnnnnnnnnnnnn","order_id":"o-12345678",'
        b'"version":1,"workflow_id":"order-o-12345678"}'
    )


def test_a_valid_approval_passes() -> None:
    assert verify(sign(message()), EXPECTED, registry()) is None


@pytest.mark.parametrize(
    ("approval", "expected", "reason"),
    [
        (sign(message("mallory"), key="bob"), EXPECTED, RejectReason.UNKNOWN_APPROVER),
        (sign(message("carol")), EXPECTED, RejectReason.INACTIVE_APPROVER),
        (sign(message(), key="dave"), EXPECTED, RejectReason.BAD_SIGNATURE),
        (sign(message(amount_cents=1)), EXPECTED, RejectReason.WRONG_AMOUNT),
        (sign(message(currency="USD")), EXPECTED, RejectReason.WRONG_CURRENCY),
        (sign(message(order_id="o-other000")), EXPECTED, RejectReason.WRONG_ORDER),
        (sign(message(workflow_id="order-x")), EXPECTED, RejectReason.WRONG_WORKFLOW),
        (sign(message(namespace="billing")), EXPECTED, RejectReason.WRONG_NAMESPACE),
        (
            sign(message("alice", amount_cents=250_000)),
            Expected(**{**EXPECTED.__dict__, "amount_cents": 250_000}),
            RejectReason.OVER_LIMIT,
        ),
        (
            sign(message("dave")),
            Expected(**{**EXPECTED.__dict__, "submitter": "dave"}),
            RejectReason.SELF_APPROVAL,
        ),
        (
            sign(message()),
            Expected(**{**EXPECTED.__dict__, "now": NOW + timedelta(hours=1)}),
            RejectReason.EXPIRED,
        ),
        (
            sign(message()),
            Expected(**{**EXPECTED.__dict__, "seen_nonces": frozenset({"n" * 20})}),
            RejectReason.REPLAYED_NONCE,
        ),
        (
            sign(message()),
            Expected(**{**EXPECTED.__dict__, "approved_by": frozenset({"bob"})}),
            RejectReason.SAME_APPROVER,
        ),
    ],
)
def test_each_reason(approval: SignedApproval, expected: Expected, reason: RejectReason) -> None:
    assert verify(approval, expected, registry()) is reason


def with_bob(**changes: object) -> ApproverRegistry:
    """The registry with bob's entry changed (as a fresh read would record it)."""
    base = registry()
    bob = base.get("bob")
    assert bob is not None
    return base.merged(
        ApproverRegistry(approvers=(bob.model_copy(update=changes),)), frozenset({"bob"})
    )


def test_a_removed_approver_is_refused_for_approvals_and_rejections() -> None:
    removed = with_bob(member=False)
    assert verify(sign(message()), EXPECTED, removed) is RejectReason.APPROVER_REMOVED
    rejection = sign(message(decision=Decision.REJECT))
    assert verify(rejection, EXPECTED, removed) is RejectReason.APPROVER_REMOVED
    assert standing(sign(message()), removed) is RejectReason.APPROVER_REMOVED
    # Everyone else is untouched by bob's fresh entry.
    assert verify(sign(message("dave")), EXPECTED, removed) is None


def test_a_retired_key_version_is_refused_even_with_its_public_key_still_pinned() -> None:
    # min_key_version decides, not whether the (old) public key happens to be there.
    retired = with_bob(min_key_version=2)
    assert verify(sign(message()), EXPECTED, retired) is RejectReason.KEY_VERSION_RETIRED
    assert standing(sign(message()), retired) is RejectReason.KEY_VERSION_RETIRED
    # A version above everything pinned is unknown, not retired.
    v2 = sign(message()).model_copy(
        update={"signature": sign(message()).signature.replace("vault:v1:", "vault:v2:")}
    )
    assert verify(v2, EXPECTED, registry()) is RejectReason.UNKNOWN_KEY_VERSION


def test_registries_recorded_before_membership_and_versions_keep_their_meaning() -> None:
    """A registry recorded by the old activity (no ``member``/``min_key_version``) loads as
    "member, every pinned version in force": committed histories replay unchanged."""
    old = {"name": "bob", "limit_cents": 1_000_000, "active": True, "public_keys": {}}
    pinned = ApproverRegistry.model_validate({"approvers": [old]}).approvers[0]
    assert (pinned.member, pinned.min_key_version) == (True, 1)


def test_merged_replaces_only_the_names_read_and_drops_those_gone() -> None:
    base = registry()
    fresh = ApproverRegistry(approvers=())  # bob's key no longer exists
    merged = base.merged(fresh, frozenset({"bob"}))
    assert merged.get("bob") is None
    assert merged.get("dave") == base.get("dave")
    assert verify(sign(message()), EXPECTED, merged) is RejectReason.UNKNOWN_APPROVER


def test_a_rejection_needs_no_limit() -> None:
    assert verify(sign(message("alice", decision=Decision.REJECT)), EXPECTED, registry()) is None


def test_inputs_are_strict() -> None:
    with pytest.raises(ValidationError):
        ApprovalMessage.model_validate({**message().model_dump(mode="json"), "amount_cents": "1"})
    with pytest.raises(ValidationError):
        ApprovalMessage.model_validate({**message().model_dump(mode="json"), "extra": 1})
    with pytest.raises(ValidationError):
        ApprovalMessage.model_validate({**message().model_dump(mode="json"), "version": 2})


def test_required_approvals() -> None:
    assert required_approvals(100_000, 100_000, 500_000) == 0
    assert required_approvals(100_001, 100_000, 500_000) == 1
    assert required_approvals(500_001, 100_000, 500_000) == 2


def test_the_policy_can_only_be_tightened() -> None:
    ApprovalPolicy(threshold_cents=10, deadline_seconds=5)
    with pytest.raises(ValidationError):
        ApprovalPolicy(threshold_cents=approval_policy.APPROVAL_THRESHOLD_CENTS + 1)
    with pytest.raises(ValidationError):
        ApprovalPolicy(deadline_seconds=approval_policy.APPROVAL_DEADLINE_SECONDS + 1)


@pytest.mark.parametrize("approver", approval_policy.APPROVERS, ids=lambda a: a.name)
def test_the_group_policy_resolves_to_each_approvers_own_key(
    approver: approval_policy.Approver,
) -> None:
    """OpenBao fills ``{{identity.entity.name}}`` with the caller's entity (= approver) name."""
    stanzas = re.findall(r'path\s+"([^"]+)"\s*{\s*capabilities\s*=\s*\[([^\]]*)\]', group_policy())
    [(path, caps)] = stanzas
    assert path.replace("{{identity.entity.name}}", approver.name) == signs_with(approver)
    assert signs_with(approver) == f"transit/sign/approver-{approver.name}"
    assert caps == '"update"'
