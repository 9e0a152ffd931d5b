"""order-fulfill: create the order's shipment."""

from __future__ import annotations

import re
from typing import Final

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from temporalio import activity

from activities._support import DbActivities, business_error, derived_id, not_recorded
from orders import identities
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

        Args:
            ref: The order.

        Returns:
            The shipment.

        Raises:
            ApplicationError: ``Undeliverable`` (non-retryable) if the carrier refuses the
                address; no shipment is recorded.
        """
        async with self._engine.begin() as conn:
            address = (
                await conn.execute(
                    select(orders.c.shipping_address).where(orders.c.id == ref.order_id)
                )
            ).scalar_one_or_none()
            if address is None:
                raise not_recorded("order", ref.order_id)
            if _UNDELIVERABLE.search(address):
                raise business_error(
                    BusinessError.UNDELIVERABLE, "the carrier cannot deliver to the address"
                )
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
