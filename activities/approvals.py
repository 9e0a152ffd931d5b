"""order-approvals: read the approver registry the workflow records and verifies against.

Per approver in the contract (or those a :class:`~orders.approvals.RegistryRequest` names):
the Transit key versions in force and membership of ``order-approvers`` at the moment of
reading. Nothing is cached: the workflow asks for a fresh read exactly when it needs one
(when it starts waiting, when an approval arrives through the Update, before its decision
is final), and for only the approvers concerned, so a removal or a retired version counts
from the next read on. Cost: ``1 + 2n`` OpenBao reads for ``n`` approvers (the group, then
each approver's key and entity).
"""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities._support import DbActivities
from orders import logging as olog
from orders.approvals import ApproverRegistry, PinnedApprover, RegistryRequest
from orders.contract import approval_policy, identities
from orders.security.transit import TransitClient, TransitDeniedError, TransitInvalidError

log = olog.get(__name__)

APPROVER_KEYS_DENIED = "ApproverKeysDenied"
"""``ApplicationError.type`` when Vault refuses this identity the approvers' public keys or
their membership (a policy that does not match the contract)."""


def is_member(entity: dict[str, Any] | None, group_id: str | None) -> bool:
    """Whether an OpenBao entity (its ``identity/entity/name/…`` data) may sign as approver.

    It must exist, be enabled and be in the approvers' group directly or through a subgroup
    (``inherited_group_ids``): exactly the entities whose tokens carry the group's policy.
    """
    if entity is None or group_id is None or entity.get("disabled"):
        return False
    groups = {
        *(entity.get("direct_group_ids") or ()),
        *(entity.get("inherited_group_ids") or ()),
        *(entity.get("group_ids") or ()),
    }
    return group_id in groups


class LoadApprovers(DbActivities):
    """Activities of the order-approvals identity (no database role)."""

    identity = identities.ORDER_APPROVALS

    @activity.defn(name=identities.LOAD_APPROVERS)
    async def load_approvers(self, request: RegistryRequest | None = None) -> ApproverRegistry:
        """The approvers asked for, with their key versions in force and their membership.

        The result is recorded in the workflow's history, so replay verifies against the
        same record. An approver whose key does not exist in Vault (contract applied
        without ``orders vault apply``) is left out, so nobody can approve as them; one
        whose entity is missing, disabled or outside ``order-approvers`` is kept with
        ``member=False``, so the workflow can say why it refuses them.

        Args:
            request: Whom to read; None or no names: every approver in the contract
                (histories from before the request existed schedule it without one).

        Raises:
            ApplicationError: ``ApproverKeysDenied`` (non-retryable): this identity's policy
                does not allow a read the registry needs.
            VaultUnavailableError: Vault unreachable; Temporal retries the activity.
        """
        if self._unsealer is None:
            raise ApplicationError(
                "no Transit client", type=APPROVER_KEYS_DENIED, non_retryable=True
            )
        wanted = set(request.names) if request is not None and request.names else None
        transit = self._unsealer.transit
        try:
            return await _read_registry(transit, wanted)
        except TransitDeniedError as exc:
            raise ApplicationError(
                str(exc), type=APPROVER_KEYS_DENIED, non_retryable=True
            ) from None


async def _read_registry(transit: TransitClient, wanted: set[str] | None) -> ApproverRegistry:
    group = await transit.read(f"identity/group/name/{approval_policy.APPROVERS_GROUP}")
    group_id = str(group["id"]) if group and group.get("id") else None
    pinned = []
    for approver in approval_policy.APPROVERS:
        if wanted is not None and approver.name not in wanted:
            continue
        try:
            key = await transit.signing_key(approver.transit_key)
        except TransitInvalidError:
            log.warning("approvals.key_missing", approver=approver.name)
            continue
        entity = await transit.read(f"identity/entity/name/{approver.name}")
        pinned.append(
            PinnedApprover(
                name=approver.name,
                limit_cents=approver.limit_cents,
                active=approver.active,
                public_keys=key.public_keys,
                member=is_member(entity, group_id),
                min_key_version=key.min_version,
            )
        )
    return ApproverRegistry(approvers=tuple(pinned))
