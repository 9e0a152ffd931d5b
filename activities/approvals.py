"""order-approvals: load the approver registry the workflow pins for its run."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities._support import DbActivities
from orders import identities
from orders import logging as olog
from orders.approvals import ApproverRegistry, PinnedApprover
from orders.security.transit import TransitDeniedError, TransitInvalidError

log = olog.get(__name__)

APPROVER_KEYS_DENIED = "ApproverKeysDenied"
"""``ApplicationError.type`` when Vault refuses this identity the approvers' public keys."""


class LoadApprovers(DbActivities):
    """Activities of the order-approvals identity (no database role)."""

    identity = identities.ORDER_APPROVALS

    @activity.defn(name=identities.LOAD_APPROVERS)
    async def load_approvers(self) -> ApproverRegistry:
        """Every approver in the contract with its public keys per version, from Transit.

        The result is recorded in the workflow's history, so replay verifies against the
        same keys; a key rotated later is unknown to workflows that already loaded it.
        An approver whose key does not exist in Vault (contract applied without
        ``orders vault apply``) is left out, so nobody can approve as them.

        Raises:
            ApplicationError: ``ApproverKeysDenied`` (non-retryable): this identity's policy
                does not allow reading the keys.
            VaultUnavailableError: Vault unreachable; Temporal retries the activity.
        """
        if self._unsealer is None:
            raise ApplicationError(
                "no Transit client", type=APPROVER_KEYS_DENIED, non_retryable=True
            )
        transit = self._unsealer.transit
        pinned = []
        for approver in identities.APPROVERS:
            try:
                keys = await transit.public_keys(approver.transit_key)
            except TransitDeniedError as exc:
                raise ApplicationError(
                    str(exc), type=APPROVER_KEYS_DENIED, non_retryable=True
                ) from None
            except TransitInvalidError:
                log.warning("approvals.key_missing", approver=approver.name)
                continue
            pinned.append(
                PinnedApprover(
                    name=approver.name,
                    limit_cents=approver.limit_cents,
                    active=approver.active,
                    public_keys=keys,
                )
            )
        return ApproverRegistry(approvers=tuple(pinned))
