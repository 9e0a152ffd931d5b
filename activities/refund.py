"""order-refund-payment (compensation): refund the order's captured payment."""

from __future__ import annotations

from sqlalchemy import func, select, update
from temporalio import activity

from activities._support import DbActivities, not_recorded
from orders import identities
from orders.db.schema import PAYMENT_CAPTURED, PAYMENT_REFUNDED, payments
from orders.models import OrderRef, PaymentResult


class RefundPayment(DbActivities):
    """Activities of the order-refund-payment identity."""

    identity = identities.ORDER_REFUND_PAYMENT

    @activity.defn(name=identities.REFUND_PAYMENT)
    async def refund_payment(self, ref: OrderRef) -> PaymentResult:
        """Mark the order's captured payment refunded; a refunded one is returned as is.

        Args:
            ref: The order.

        Returns:
            The refunded payment.

        Raises:
            ApplicationError: ``NotRecorded`` (non-retryable) if the order has no payment:
                the workflow only compensates payments it saw captured.
        """
        async with self._engine.begin() as conn:
            await conn.execute(
                update(payments)
                .where(
                    payments.c.order_id == ref.order_id,
                    payments.c.status == PAYMENT_CAPTURED,
                )
                .values(status=PAYMENT_REFUNDED, refunded_at=func.now())
            )
            payment = (
                await conn.execute(
                    select(
                        payments.c.transaction_id,
                        payments.c.amount_cents,
                        payments.c.currency,
                        payments.c.status,
                    ).where(payments.c.order_id == ref.order_id)
                )
            ).one_or_none()
        if payment is None:
            raise not_recorded("payment", ref.order_id)
        activity.logger.info("payment refunded")
        return PaymentResult(
            order_id=ref.order_id,
            transaction_id=payment.transaction_id,
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            status=payment.status,
        )
