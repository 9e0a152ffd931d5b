"""Signed approvals: the canonical message, the pinned registry and the one verifier.

Pure and deterministic (no I/O, no clock, no randomness): the workflow imports it through
the sandbox and runs :func:`verify` on every approval, from the ``approve`` Update's
validator and from the ``approval`` signal alike.

Canonical message, version 1
----------------------------
The bytes an approver's Transit key signs are the UTF-8 encoding of the JSON object with
exactly these members, keys sorted, no whitespace (``separators=(",", ":")``), non-ASCII
escaped (``ensure_ascii=True``)::

    {"amount_cents":150000,"approver":"bob","currency":"EUR","decision":"approve",
     "expires_at":"2026-01-01T01:00:00Z","issued_at":"2026-01-01T00:00:00Z",
     "namespace":"orders","nonce":"<16-64 url-safe chars>","order_id":"...",
     "version":1,"workflow_id":"order-..."}

(shown wrapped; the real encoding is one line). ``amount_cents`` and ``version`` are JSON
integers; timestamps are ISO-8601 UTC with a ``Z`` and whole seconds; ``decision`` is
``approve`` or ``reject``. Implementations in other languages must produce the same bytes:
:func:`canonical_bytes` is the reference.

Signature: Vault Transit ``sign`` with the approver's ed25519 key ``approver-<name>``
(pure Ed25519 over the bytes above, no prehash), as Vault returns it: ``vault:vN:<base64>``,
where ``N`` is the key version the workflow looks up in its pinned registry.

What is in force, and when
--------------------------
The registry (:class:`ApproverRegistry`, the ``load_approvers`` activity's result, recorded
in history) holds, per approver, only the key versions *in force* when it was read, the
versions Transit itself would still verify: at or above the key's
``min_decryption_version`` (for signing keys, the lowest version ``verify`` accepts) and
``min_available_version`` (versions below it are trimmed away); and whether the approver
was a *member* of ``order-approvers`` (directly or through a subgroup, entity enabled),
the group whose policy grants signing. A retired version answers
:attr:`RejectReason.KEY_VERSION_RETIRED`, a removed approver
:attr:`RejectReason.APPROVER_REMOVED`.

A registry read when the order starts waiting goes stale: the workflow (``workflows/
order.py``) reads it again, for the approvers concerned, when an approval arrives through
the ``approve`` Update and before the decision becomes final, and re-checks every accepted
approval with :func:`standing` against that fresh record. Only the decision is deferred to
fresh data; the refusal itself is computed here, deterministically, from what history
recorded.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import enum
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

MESSAGE_VERSION: Final = 1
MAX_AMOUNT_CENTS: Final = 10**15
MAX_LIFETIME: Final = timedelta(hours=24)
"""An approval valid for longer than this is refused (a leaked approval must age out)."""
CLOCK_SKEW: Final = timedelta(minutes=2)
"""How far ``issued_at`` may lie in the workflow's future (the signer's clock is not ours)."""
TIMESTAMP_PATTERN: Final = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
SIGNATURE_PATTERN: Final = re.compile(r"^vault:v([1-9][0-9]{0,5}):([A-Za-z0-9+/]{86}==)$")
"""A Transit ed25519 signature: 64 bytes, base64."""

Timestamp = Annotated[str, StringConstraints(pattern=TIMESTAMP_PATTERN)]


class Decision(enum.StrEnum):
    """What the approver decided."""

    APPROVE = "approve"
    REJECT = "reject"


class RejectReason(enum.StrEnum):
    """Why an approval was not accepted (returned by :func:`verify`)."""

    MALFORMED = "malformed"
    NOT_AWAITING = "not_awaiting_approval"
    UNKNOWN_APPROVER = "unknown_approver"
    INACTIVE_APPROVER = "inactive_approver"
    APPROVER_REMOVED = "approver_removed"
    """No longer a member of ``order-approvers`` (or their entity is disabled) when read."""
    UNKNOWN_KEY_VERSION = "unknown_key_version"
    KEY_VERSION_RETIRED = "key_version_retired"
    """Signed with a key version below the one in force (Transit ``min_decryption_version``)."""
    REGISTRY_UNAVAILABLE = "registry_unavailable"
    """The approver registry could not be read again to confirm the approval; retry later."""
    BAD_SIGNATURE = "bad_signature"
    WRONG_NAMESPACE = "wrong_namespace"
    WRONG_WORKFLOW = "wrong_workflow"
    WRONG_ORDER = "wrong_order"
    WRONG_AMOUNT = "wrong_amount"
    WRONG_CURRENCY = "wrong_currency"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    LIFETIME_TOO_LONG = "lifetime_too_long"
    REPLAYED_NONCE = "replayed_nonce"
    SELF_APPROVAL = "self_approval"
    UNKNOWN_SUBMITTER = "unknown_submitter"
    """Who placed the order was not authenticated (it did not come through the front)."""
    OVER_LIMIT = "over_limit"
    SAME_APPROVER = "same_approver_twice"


class _Strict(BaseModel):
    """Frozen, unknown fields refused; integers are ``StrictInt`` (no "1" or True as 1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ApprovalMessage(_Strict):
    """The signed content of an approval (see the module docstring for its encoding)."""

    version: StrictInt = Field(default=MESSAGE_VERSION, ge=MESSAGE_VERSION, le=MESSAGE_VERSION)
    namespace: str = Field(min_length=1, max_length=64)
    workflow_id: str = Field(min_length=1, max_length=128)
    order_id: str = Field(min_length=1, max_length=64)
    amount_cents: StrictInt = Field(ge=0, le=MAX_AMOUNT_CENTS)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    decision: Decision
    approver: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    nonce: str = Field(pattern=r"^[A-Za-z0-9_-]{16,64}$")
    issued_at: Timestamp
    expires_at: Timestamp


class SignedApproval(_Strict):
    """An approval message and the approver's Transit signature over its canonical bytes."""

    message: ApprovalMessage
    signature: str = Field(max_length=128)

    @property
    def key_version(self) -> int | None:
        """Transit key version named by the signature (None if it is not well-formed)."""
        match = SIGNATURE_PATTERN.match(self.signature)
        return int(match.group(1)) if match else None


class PinnedApprover(_Strict):
    """One approver as the workflow pinned it: limit, active flag, public key per version."""

    name: str
    limit_cents: StrictInt
    active: bool
    public_keys: dict[int, str] = Field(default_factory=dict)
    """Key version -> base64 raw Ed25519 public key (from Transit ``keys/approver-<name>``),
    versions in force only."""
    member: bool = True
    """In ``order-approvers`` (and entity enabled) when read. The default is what registries
    recorded before membership was read mean: membership was not checked."""
    min_key_version: StrictInt = Field(default=1, ge=1)
    """Lowest version in force when read (Transit ``min_decryption_version``, or
    ``min_available_version`` if higher); a signature naming a lower one is retired."""


class ApproverRegistry(_Strict):
    """Result of the ``load_approvers`` activity, recorded in history and pinned for a run."""

    approvers: tuple[PinnedApprover, ...] = ()

    def get(self, name: str) -> PinnedApprover | None:
        """The approver called ``name``, if registered."""
        return next((a for a in self.approvers if a.name == name), None)

    def merged(self, fresh: ApproverRegistry, names: frozenset[str]) -> ApproverRegistry:
        """This registry with every approver in ``names`` as ``fresh`` read them.

        An approver in ``names`` whom ``fresh`` does not hold (no longer in the contract,
        or their key is gone) is dropped: nobody can approve as them any more.
        """
        kept = tuple(a for a in self.approvers if a.name not in names)
        return ApproverRegistry(
            approvers=kept + tuple(a for a in fresh.approvers if a.name in names)
        )


class RegistryRequest(_Strict):
    """Argument of ``load_approvers``: whom to read (the whole contract when empty)."""

    names: tuple[str, ...] = ()


class AcceptedApproval(_Strict):
    """An approval the workflow accepted (shown by the ``status`` query)."""

    approver: str
    decision: Decision
    key_version: int
    accepted_at: str
    """Workflow time of acceptance, ISO-8601 UTC."""
    nonce: str


class RevokedApproval(_Strict):
    """An accepted approval the workflow withdrew when it read the registry again."""

    approver: str
    decision: Decision
    key_version: int
    nonce: str
    reason: RejectReason
    revoked_at: str
    """Workflow time of the fresh read that refused it, ISO-8601 UTC."""


@dataclass(frozen=True)
class Expected:
    """What the workflow knows and every approval must match.

    Attributes:
        namespace: Temporal namespace of the workflow.
        workflow_id: Its id.
        order_id: The order.
        amount_cents: The validated total.
        currency: The order currency.
        submitter: Who submitted the order (customer id); may not approve it.
        now: Workflow time.
        seen_nonces: Nonces of every approval this workflow has already accepted.
        approved_by: Approvers whose approval it has already accepted.
    """

    namespace: str
    workflow_id: str
    order_id: str
    amount_cents: int
    currency: str
    submitter: str
    now: datetime
    seen_nonces: frozenset[str] = field(default_factory=frozenset)
    approved_by: frozenset[str] = field(default_factory=frozenset)


def canonical_bytes(message: ApprovalMessage) -> bytes:
    """The exact bytes an approver signs (see the module docstring)."""
    return json.dumps(
        message.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    ).encode()


def format_time(when: datetime) -> str:
    """ISO-8601 UTC with whole seconds and ``Z``, as the message carries timestamps."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Inverse of :func:`format_time`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _warm_up() -> None:
    """Make cryptography resolve its ``InvalidSignature`` type now, outside any sandbox.

    cryptography's Rust core imports the exception class lazily, the first time it raises
    it. If that first time is inside Temporal's workflow sandbox, the import fails inside
    pyo3 and the *process aborts* (a panic, not an exception): one bad signature would kill
    the workflow worker. Raising it once at import time (this module is imported passed
    through, by the host) caches the type for the life of the process.
    """
    key = Ed25519PublicKey.from_public_bytes(bytes(32))
    with contextlib.suppress(InvalidSignature, ValueError):
        key.verify(bytes(64), b"warm-up")


_warm_up()


def signature_ok(approver: PinnedApprover, approval: SignedApproval) -> RejectReason | None:
    """Check the Ed25519 signature against the pinned public key of its version."""
    match = SIGNATURE_PATTERN.match(approval.signature)
    if match is None:
        return RejectReason.BAD_SIGNATURE
    version = int(match.group(1))
    if version < approver.min_key_version:
        return RejectReason.KEY_VERSION_RETIRED
    public = approver.public_keys.get(version)
    if public is None:
        return RejectReason.UNKNOWN_KEY_VERSION
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public, validate=True))
        key.verify(
            base64.b64decode(match.group(2), validate=True), canonical_bytes(approval.message)
        )
    except (InvalidSignature, ValueError, binascii.Error):
        return RejectReason.BAD_SIGNATURE
    return None


def standing(approval: SignedApproval, registry: ApproverRegistry) -> RejectReason | None:
    """What ``registry`` alone says of ``approval``: None if its signer may still sign it.

    Checks, in order: the approver is registered, active in the contract and a member of
    ``order-approvers``; the version the signature names is in force (not retired, not
    unknown); the signature verifies under that version's pinned key. The workflow runs
    this again on every accepted approval whenever it reads the registry afresh.
    """
    approver = registry.get(approval.message.approver)
    if approver is None:
        return RejectReason.UNKNOWN_APPROVER
    if not approver.active:
        return RejectReason.INACTIVE_APPROVER
    if not approver.member:
        return RejectReason.APPROVER_REMOVED
    return signature_ok(approver, approval)


def verify(
    approval: SignedApproval, expected: Expected, registry: ApproverRegistry
) -> RejectReason | None:
    """The one verifier: None if ``approval`` may be accepted, else why not.

    Checks, in order: the approver's :func:`standing` in ``registry`` (registered, active,
    member; key version in force; signature); every bound field equals the workflow's own
    state; the validity window against workflow time; the nonce is new to this workflow;
    the approver is not the submitter; and, for approvals (not rejections), the approver's
    limit covers the amount and the approver has not approved this order already.
    """
    msg = approval.message
    approver = registry.get(msg.approver)
    refused = standing(approval, registry)
    if approver is None or refused is not None:
        return refused or RejectReason.UNKNOWN_APPROVER
    bound = (
        (msg.namespace, expected.namespace, RejectReason.WRONG_NAMESPACE),
        (msg.workflow_id, expected.workflow_id, RejectReason.WRONG_WORKFLOW),
        (msg.order_id, expected.order_id, RejectReason.WRONG_ORDER),
        (msg.amount_cents, expected.amount_cents, RejectReason.WRONG_AMOUNT),
        (msg.currency, expected.currency, RejectReason.WRONG_CURRENCY),
    )
    for got, want, reason in bound:
        if got != want:
            return reason
    try:
        issued, expires = parse_time(msg.issued_at), parse_time(msg.expires_at)
    except ValueError:
        return RejectReason.MALFORMED
    if expires <= issued:
        return RejectReason.MALFORMED
    if expires - issued > MAX_LIFETIME:
        return RejectReason.LIFETIME_TOO_LONG
    if issued > expected.now + CLOCK_SKEW:
        return RejectReason.NOT_YET_VALID
    if expected.now >= expires:
        return RejectReason.EXPIRED
    if msg.nonce in expected.seen_nonces:
        return RejectReason.REPLAYED_NONCE
    if msg.approver == expected.submitter:
        return RejectReason.SELF_APPROVAL
    if msg.decision is Decision.APPROVE:
        if approver.limit_cents < expected.amount_cents:
            return RejectReason.OVER_LIMIT
        if msg.approver in expected.approved_by:
            return RejectReason.SAME_APPROVER
    return None


def required_approvals(amount_cents: int, threshold: int, dual_threshold: int) -> int:
    """How many distinct approvers an order of ``amount_cents`` needs (0, 1 or 2)."""
    if amount_cents > dual_threshold:
        return 2
    if amount_cents > threshold:
        return 1
    return 0


def new_message(
    *,
    namespace: str,
    workflow_id: str,
    order_id: str,
    amount_cents: int,
    currency: str,
    decision: Decision,
    approver: str,
    nonce: str,
    issued_at: datetime,
    valid_for: timedelta = timedelta(minutes=15),
) -> ApprovalMessage:
    """Build a message (client side: the CLI, the demo, the tests)."""
    return ApprovalMessage(
        namespace=namespace,
        workflow_id=workflow_id,
        order_id=order_id,
        amount_cents=amount_cents,
        currency=currency,
        decision=decision,
        approver=approver,
        nonce=nonce,
        issued_at=format_time(issued_at),
        expires_at=format_time(issued_at + valid_for),
    )
