"""order-validate: price the order from the catalogue and record it.

The need-to-know fields arrive sealed and are stored sealed: this identity never sees the
customer's e-mail or address, and the database holds them encrypted at rest.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from temporalio import activity

from activities._support import (
    UNIQUE_VIOLATION,
    DbActivities,
    business_error,
    not_recorded,
    own_run,
    violation,
)
from orders.contract import identities
from orders.db.schema import inventory, order_items, orders
from orders.models import BusinessError, SealedOrder, ValidatedOrder

ORDERS_PK: Final = "pk_orders"


class ValidateOrder(DbActivities):
    """Activities of the order-validate identity."""

    identity = identities.ORDER_VALIDATE

    @activity.defn(name=identities.VALIDATE_ORDER)
    async def validate_order(self, order: SealedOrder) -> ValidatedOrder:
        """Price every item from the catalogue and insert the order with its items.

        The order row names the Temporal run that recorded it (``run_id``, from the
        activity's own info). An order id is used once: when the row exists, a retry of
        the same run is answered from the row (its recorded total and currency, never
        recomputed from the input), and any other run is refused with nothing touched.

        Args:
            order: The customer's order, need-to-know fields sealed (stored as they are;
                their consumers unseal them from the row).

        Returns:
            The order as recorded, with its total.

        Raises:
            ApplicationError: ``InvalidOrder`` (non-retryable) naming unknown SKUs;
                ``DuplicateOrder`` (non-retryable) when another run recorded the order id.
        """
        run_id = own_run()
        skus = [item.sku for item in order.items]
        async with self._engine.connect() as conn:
            result = await conn.execute(
                select(inventory.c.sku, inventory.c.price_cents).where(inventory.c.sku.in_(skus))
            )
            prices: dict[str, int] = dict(result.all())
        unknown = sorted(set(skus) - prices.keys())
        if unknown:
            raise business_error(BusinessError.INVALID_ORDER, f"unknown SKU: {', '.join(unknown)}")
        total = sum(prices[item.sku] * item.quantity for item in order.items)
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(orders).values(
                        id=order.order_id,
                        customer_id=order.customer_id,
                        customer_email=order.customer_email,
                        shipping_address=order.shipping_address,
                        total_cents=total,
                        currency=order.currency,
                        run_id=run_id,
                    )
                )
                await conn.execute(
                    insert(order_items),
                    [
                        {
                            "order_id": order.order_id,
                            "sku": item.sku,
                            "quantity": item.quantity,
                            "unit_price_cents": prices[item.sku],
                        }
                        for item in order.items
                    ],
                )
        except IntegrityError as exc:
            if violation(exc, UNIQUE_VIOLATION) != ORDERS_PK:
                raise
            return await self._recorded(order, run_id)
        activity.logger.info("order recorded")
        return ValidatedOrder(
            order_id=order.order_id,
            total_cents=total,
            currency=order.currency,
            item_count=len(order.items),
        )

    async def _recorded(self, order: SealedOrder, run_id: str) -> ValidatedOrder:
        """Answer a retry of the run that recorded ``order`` from the row; refuse any other.

        Raises:
            ApplicationError: ``DuplicateOrder`` (another run, or a row from before runs
                were recorded); ``NotRecorded`` if the row vanished (nobody may delete).
        """
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(orders.c.run_id, orders.c.total_cents, orders.c.currency).where(
                        orders.c.id == order.order_id
                    )
                )
            ).one_or_none()
        if row is None:
            raise not_recorded("order", order.order_id)
        if row.run_id != run_id:
            # The message names the order id only (not PII): nothing of the recorded order.
            raise business_error(
                BusinessError.DUPLICATE_ORDER,
                f"order {order.order_id} was already placed by another workflow run",
            )
        activity.logger.info("order already recorded by an earlier attempt of this run")
        return ValidatedOrder(
            order_id=order.order_id,
            total_cents=row.total_cents,
            currency=row.currency,
            # A retry of one run carries that run's input, so its item count is the row's.
            item_count=len(order.items),
        )
