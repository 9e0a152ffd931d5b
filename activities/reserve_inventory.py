"""order-reserve-inventory: hold stock for every item of the order, all or nothing."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from temporalio import activity

from activities._support import (
    FOREIGN_KEY_VIOLATION,
    DbActivities,
    business_error,
    foreign_run,
    not_recorded,
    own_run,
    violation,
)
from orders.contract import identities
from orders.db.schema import RESERVATION_HELD, RESERVATION_RELEASED, inventory, reservations
from orders.models import BusinessError, Reservation, ReserveRequest


class ReserveInventory(DbActivities):
    """Activities of the order-reserve-inventory identity."""

    identity = identities.ORDER_RESERVE_INVENTORY

    @activity.defn(name=identities.RESERVE_INVENTORY)
    async def reserve_inventory(self, request: ReserveRequest) -> Reservation:
        """Move each item's quantity from available to reserved, in one transaction.

        A reservation row per (order, SKU) makes the activity idempotent: a retry finds the
        rows of the committed attempt and changes nothing. Each row names the workflow run
        that made it; rows of another run are never adopted (the whole transaction rolls
        back), since this run's compensation would otherwise release another order's stock.

        Args:
            request: The order id and its items.

        Returns:
            The order's reservations (status ``held``; ``released`` if compensation already
            ran for this order).

        Raises:
            ApplicationError: ``OutOfStock`` (non-retryable) naming the SKU; nothing is held.
                ``ForeignRun`` (non-retryable): another run holds reservations for the order.
        """
        run_id = own_run()
        try:
            async with self._engine.begin() as conn:
                # A fixed lock order keeps concurrent orders for the same SKUs deadlock-free.
                for item in sorted(request.items, key=lambda i: i.sku):
                    held = await conn.execute(
                        insert(reservations)
                        .values(
                            order_id=request.order_id,
                            sku=item.sku,
                            quantity=item.quantity,
                            status=RESERVATION_HELD,
                            run_id=run_id,
                        )
                        .on_conflict_do_nothing(
                            index_elements=[reservations.c.order_id, reservations.c.sku]
                        )
                    )
                    if held.rowcount == 0:
                        continue  # an earlier attempt's row, or another run's (checked below)
                    taken = await conn.execute(
                        update(inventory)
                        .where(
                            inventory.c.sku == item.sku,
                            inventory.c.available >= item.quantity,
                        )
                        .values(
                            available=inventory.c.available - item.quantity,
                            reserved=inventory.c.reserved + item.quantity,
                        )
                    )
                    if taken.rowcount == 0:
                        raise business_error(
                            BusinessError.OUT_OF_STOCK, f"insufficient stock for {item.sku}"
                        )
                rows = (
                    await conn.execute(
                        select(reservations.c.sku, reservations.c.status, reservations.c.run_id)
                        .where(reservations.c.order_id == request.order_id)
                        .order_by(reservations.c.sku)
                    )
                ).all()
                if any(row.run_id != run_id for row in rows):
                    # Raised inside the transaction: whatever this attempt took rolls back.
                    raise foreign_run("reservations", request.order_id)
                statuses = {row.sku: row.status for row in rows}
        except IntegrityError as exc:
            if violation(exc, FOREIGN_KEY_VIOLATION) is None:
                raise
            # Validation runs first, so an unknown order or SKU here is a broken invariant.
            raise not_recorded("order or catalogue entry", request.order_id) from None
        released = RESERVATION_RELEASED in statuses.values()
        activity.logger.info("stock reserved")
        return Reservation(
            order_id=request.order_id,
            skus=tuple(statuses),
            status=RESERVATION_RELEASED if released else RESERVATION_HELD,
        )
