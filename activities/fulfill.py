"""order-fulfill: create the order's shipment."""

from __future__ import annotations

import re
from typing import Final

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from temporalio import activity

from activities._support import DbActivities, business_error, derived_id, not_recorded
from orders.contract import identities
from orders.db.schema import orders, shipments
from orders.models import BusinessError, OrderRef, Shipment

CARRIER: Final = "local-post"
_UNDELIVERABLE: Final = re.compile(r"\bundeliverable\b", re.IGNORECASE)
"""The simulated carrier refuses addresses containing this word (drives the refund path)."""


def tracking_number_for(order_id: str) -> str:
    """The simulated carrier's tracking number of an order (the same on every retry)."""
    return derived_id("TRK", "shipment", order_id)


class FulfillOrder(DbActivities):
    """Activities of the order-fulfill identity."""

    identity = identities.ORDER_FULFILL

    @activity.defn(name=identities.FULFILL_ORDER)
    async def fulfill_order(self, ref: OrderRef) -> Shipment:
        """Create the order's one shipment to the recorded address (never logged).

        The address is stored sealed to this identity; it is unsealed here, only to hand it
        to the carrier.

        Args:
            ref: The order.

        Returns:
            The shipment.

        Raises:
            ApplicationError: ``Undeliverable`` (non-retryable) if the carrier refuses the
                address; no shipment is recorded. ``SealedFieldDenied`` /
                ``SealedFieldInvalid`` (non-retryable) if the address does not open for
                this worker and order. ``CustomerErased`` (non-retryable) if the customer's
                key material was destroyed (``orders customer forget``).
            VaultUnavailableError: Vault unreachable; Temporal retries the activity.
        """
        async with self._engine.connect() as conn:
            sealed = (
                await conn.execute(
                    select(orders.c.shipping_address).where(orders.c.id == ref.order_id)
                )
            ).scalar_one_or_none()
        if sealed is None:
            raise not_recorded("order", ref.order_id)
        # Between transactions: no connection is held while Vault answers. The order row
        # never changes after validation, so reading it apart from the insert is safe.
        address = await self.unseal("shipping_address", ref.order_id, sealed)
        if _UNDELIVERABLE.search(address):
            raise business_error(
                BusinessError.UNDELIVERABLE, "the carrier cannot deliver to the address"
            )
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(shipments)
                .values(
                    tracking_number=tracking_number_for(ref.order_id),
                    order_id=ref.order_id,
                    carrier=CARRIER,
                )
                .on_conflict_do_nothing(index_elements=[shipments.c.order_id])
            )
            tracking_number = (
                await conn.execute(
                    select(shipments.c.tracking_number).where(shipments.c.order_id == ref.order_id)
                )
            ).scalar_one()
        activity.logger.info("shipment created")
        return Shipment(order_id=ref.order_id, tracking_number=tracking_number)
