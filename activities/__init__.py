"""Activities: one module per identity, one class per module, dependencies injected.

A worker asks :func:`activities_for` for exactly its identity's activities, so a worker
can never register (and so never run) another identity's activity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncEngine

from activities._support import DbActivities
from activities.approvals import LoadApprovers
from activities.fulfill import FulfillOrder
from activities.notify import NotifyCustomer
from activities.payment import ProcessPayment
from activities.refund import RefundPayment
from activities.release_inventory import ReleaseInventory
from activities.reserve_inventory import ReserveInventory
from activities.validate import ValidateOrder

# `orders new activity` inserts imports above this line.
from orders.contract.identities import Identity
from orders.security.sealing import Unsealer

ACTIVITY_CLASSES: Final[dict[str, type[DbActivities]]] = {
    cls.identity.name: cls
    for cls in (
        ValidateOrder,
        ReserveInventory,
        ProcessPayment,
        RefundPayment,
        FulfillOrder,
        NotifyCustomer,
        ReleaseInventory,
        LoadApprovers,
        # `orders new activity` inserts classes above this line.
    )
}
"""Identity name -> the class implementing its activities."""


def activities_for(
    identity: Identity, engine: AsyncEngine | None, unsealer: Unsealer
) -> list[Callable[..., Any]]:
    """The activity callables a worker of ``identity`` registers, bound to its dependencies.

    Args:
        identity: An activity identity from the contract.
        engine: Engine whose connections use that identity's database role (None for an
            identity without one, order-approvals).
        unsealer: ``identity``'s unsealer (its Vault token); only the consumers of sealed
            fields (payment, fulfill, notify) use it.

    Returns:
        One bound ``@activity.defn`` method per name in ``identity.activities``.

    Raises:
        ValueError: If ``identity`` runs no activities (workflow, migrate, client, codec),
            or ``unsealer`` belongs to another identity.
    """
    try:
        cls = ACTIVITY_CLASSES[identity.name]
    except KeyError:
        raise ValueError(f"identity {identity.name!r} runs no activities") from None
    return list(cls(engine, unsealer).definitions())


__all__ = [
    "ACTIVITY_CLASSES",
    "FulfillOrder",
    "LoadApprovers",
    "NotifyCustomer",
    "ProcessPayment",
    "RefundPayment",
    "ReleaseInventory",
    "ReserveInventory",
    "ValidateOrder",
    "activities_for",
]
