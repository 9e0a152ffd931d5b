"""order-release-inventory (compensation): return the order's held stock."""

from __future__ import annotations

from sqlalchemy import select, update
from temporalio import activity

from activities._support import DbActivities, own_run
from orders.contract import identities
from orders.db.schema import RESERVATION_HELD, RESERVATION_RELEASED, inventory, reservations
from orders.models import OrderRef, Reservation


class ReleaseInventory(DbActivities):
    """Activities of the order-release-inventory identity."""

    identity = identities.ORDER_RELEASE_INVENTORY

    @activity.defn(name=identities.RELEASE_INVENTORY)
    async def release_inventory(self, ref: OrderRef) -> Reservation:
        """Return the order's reservations held by this workflow run to stock, once.

        Only rows whose ``run_id`` is this activity's own run are touched: a run started for
        someone else's order id (or any other run) releases nothing of that order. Released
        reservations stay released, so a retry (or a run with nothing held) changes nothing.
        A foreign run gets an empty result rather than a failure: compensating "nothing
        held" is the normal no-op (it also follows a reserve that never committed), and an
        empty answer says nothing about the other run's reservations.

        Args:
            ref: The order.

        Returns:
            This run's reservations of the order, now ``released`` (empty if it has none).
        """
        run_id = own_run()
        async with self._engine.begin() as conn:
            held = await conn.execute(
                select(reservations.c.sku, reservations.c.quantity)
                .where(
                    reservations.c.order_id == ref.order_id,
                    reservations.c.run_id == run_id,
                    reservations.c.status == RESERVATION_HELD,
                )
                .order_by(reservations.c.sku)
                .with_for_update()
            )
            for sku, quantity in held.all():
                await conn.execute(
                    update(inventory)
                    .where(inventory.c.sku == sku)
                    .values(
                        available=inventory.c.available + quantity,
                        reserved=inventory.c.reserved - quantity,
                    )
                )
                await conn.execute(
                    update(reservations)
                    .where(
                        reservations.c.order_id == ref.order_id,
                        reservations.c.sku == sku,
                        reservations.c.run_id == run_id,
                    )
                    .values(status=RESERVATION_RELEASED)
                )
            skus = await conn.execute(
                select(reservations.c.sku)
                .where(reservations.c.order_id == ref.order_id, reservations.c.run_id == run_id)
                .order_by(reservations.c.sku)
            )
            released = tuple(skus.scalars().all())
        activity.logger.info("stock released")
        return Reservation(order_id=ref.order_id, skus=released, status=RESERVATION_RELEASED)
