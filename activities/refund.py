"""order-refund-payment (compensation): refund the order's captured payment."""

from __future__ import annotations

from sqlalchemy import func, select, update
from temporalio import activity

from activities._support import (
    PAYMENT_COLUMNS,
    DbActivities,
    not_recorded,
    own_run,
    payment_result,
)
from orders.contract import identities
from orders.db.schema import PAYMENT_CAPTURED, PAYMENT_REFUNDED, payments
from orders.models import OrderRef, PaymentResult


class RefundPayment(DbActivities):
    """Activities of the order-refund-payment identity."""

    identity = identities.ORDER_REFUND_PAYMENT

    @activity.defn(name=identities.REFUND_PAYMENT)
    async def refund_payment(self, ref: OrderRef) -> PaymentResult:
        """Mark this run's captured payment of the order refunded; a refunded one is returned.

        Only a payment whose ``run_id`` is this activity's own run is touched or returned.
        For any other run the answer is the same ``NotRecorded`` as for an order without a
        payment, and nothing changes: a run only compensates a payment it saw captured, so
        this cannot happen in a sound saga, and failing (rather than answering with the
        other run's payment) leaks nothing of it, not even that it exists.

        Args:
            ref: The order.

        Returns:
            The refunded payment.

        Raises:
            ApplicationError: ``NotRecorded`` (non-retryable) if this run has no payment for
                the order.
        """
        run_id = own_run()
        async with self._engine.begin() as conn:
            await conn.execute(
                update(payments)
                .where(
                    payments.c.order_id == ref.order_id,
                    payments.c.run_id == run_id,
                    payments.c.status == PAYMENT_CAPTURED,
                )
                .values(status=PAYMENT_REFUNDED, refunded_at=func.now())
            )
            payment = (
                await conn.execute(
                    select(*PAYMENT_COLUMNS).where(
                        payments.c.order_id == ref.order_id, payments.c.run_id == run_id
                    )
                )
            ).one_or_none()
        if payment is None:
            raise not_recorded("payment of this workflow run", ref.order_id)
        activity.logger.info("payment refunded")
        return payment_result(ref.order_id, payment)
