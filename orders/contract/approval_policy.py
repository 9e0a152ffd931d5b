"""Approval policy of the contract: thresholds, deadline and the approvers.

Each approver signs with their own Transit key (``approver-<name>``); the workflow verifies
against a registry pinned in history (:mod:`orders.approvals`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from orders.contract.identities import ORDER_APPROVALS, Identity

# --- Approvals ---------------------------------------------------------------------------

APPROVAL_THRESHOLD_CENTS: Final = 100_000
"""Orders whose total is above this (1,000.00 in the order's currency) wait for approval."""
DUAL_APPROVAL_THRESHOLD_CENTS: Final = 500_000
"""Above this (5,000.00) two distinct approvers must approve."""
APPROVAL_DEADLINE_SECONDS: Final = 3600
"""How long (workflow time) an order waits for approval before it is REJECTED."""
APPROVER_KEY_PREFIX: Final = "approver-"


def approver_key(name: str) -> str:
    """Transit key (ed25519, not exportable) an approver signs with: ``approver-<name>``.

    The same name is the approver's Vault policy (``transit/sign/<key>`` only).
    """
    return APPROVER_KEY_PREFIX + name


@dataclass(frozen=True)
class Approver:
    """A person who may approve large orders.

    Attributes:
        name: Login name (dev stack: userpass user) and suffix of the Transit key.
        limit_cents: Largest order total (in the order's own currency; there is no FX
            conversion) this approver may approve.
        active: Inactive approvers keep their key (old histories stay verifiable) but
            every new approval of theirs is rejected.
    """

    name: str
    limit_cents: int
    active: bool = True

    @property
    def transit_key(self) -> str:
        """Transit key of this approver (also the name of its Vault policy)."""
        return approver_key(self.name)


APPROVERS: Final[tuple[Approver, ...]] = (
    Approver("alice", 200_000),
    Approver("bob", 1_000_000),
    Approver("carol", 1_000_000, active=False),
    Approver("dave", 2_500_000),
)
"""The approver registry (limits and active flags). Public keys come from Vault Transit,
membership from the ``order-approvers`` group; the workflow loads them through
``load_approvers`` and records them in history (see ``orders.approvals``)."""

APPROVERS_GROUP: Final = "order-approvers"
"""OpenBao identity group whose policy lets its members sign with their own approver key."""


def registry_reads(identity: Identity) -> tuple[str, ...]:
    """OpenBao identity paths ``identity`` may read (what its policy must grant).

    Only order-approvals: the approvers' group (its id) and each contract approver's entity
    (the groups it is in, whether it is disabled), so the registry records who may sign
    when it is read. Named one by one: no entity outside the contract is readable.
    """
    if identity is not ORDER_APPROVALS:
        return ()
    return (
        f"identity/group/name/{APPROVERS_GROUP}",
        *(f"identity/entity/name/{a.name}" for a in APPROVERS),
    )
