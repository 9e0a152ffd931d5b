"""order-process-payment: capture the order's payment (deterministic local simulator)."""

from __future__ import annotations

from typing import Final

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from temporalio import activity

from activities._support import (
    PAYMENT_COLUMNS,
    DbActivities,
    business_error,
    derived_id,
    foreign_run,
    not_recorded,
    own_run,
    payment_result,
)
from orders.contract import identities
from orders.db.schema import PAYMENT_CAPTURED, orders, payments
from orders.models import BusinessError, PaymentRequest, PaymentResult

DECLINE_PREFIX: Final = "decline-"
"""The simulator declines every payment reference starting with this."""


def transaction_id_for(order_id: str) -> str:
    """The simulator's transaction id of an order's payment (the same on every retry)."""
    return derived_id("TXN", "payment", order_id, length=24)


class ProcessPayment(DbActivities):
    """Activities of the order-process-payment identity."""

    identity = identities.ORDER_PROCESS_PAYMENT

    @activity.defn(name=identities.PROCESS_PAYMENT)
    async def process_payment(self, request: PaymentRequest) -> PaymentResult:
        """Capture the recorded order total; exactly one payment per order under retries.

        The amount and currency come from the recorded order, never from the request, and
        only from an order this workflow run recorded. The payment row names the run; a
        payment of another run is never adopted (this run's refund would then refund it).
        The payment reference is unsealed here, the one place that may, and only looked
        at: never stored, logged or returned.

        Args:
            request: The order id and the customer's payment reference, sealed to this
                identity and bound to the order.

        Returns:
            The captured (or, if compensation already ran, refunded) payment.

        Raises:
            ApplicationError: ``PaymentDeclined`` (non-retryable); no payment is recorded.
                ``SealedFieldDenied`` / ``SealedFieldInvalid`` (non-retryable) if the
                reference does not open for this worker and order. ``ForeignRun``
                (non-retryable): another run recorded the order or its payment.
            VaultUnavailableError: Vault unreachable; Temporal retries the activity.
        """
        run_id = own_run()
        # Before the transaction: no database connection is held while Vault answers.
        reference = await self.unseal(
            "payment_reference", request.order_id, request.payment_reference
        )
        async with self._engine.begin() as conn:
            order = (
                await conn.execute(
                    select(orders.c.total_cents, orders.c.currency, orders.c.run_id).where(
                        orders.c.id == request.order_id
                    )
                )
            ).one_or_none()
            if order is None:
                raise not_recorded("order", request.order_id)
            if order.run_id != run_id:
                raise foreign_run("the recorded order", request.order_id)
            if reference.startswith(DECLINE_PREFIX):
                raise business_error(BusinessError.PAYMENT_DECLINED, "payment declined")
            await conn.execute(
                insert(payments)
                .values(
                    transaction_id=transaction_id_for(request.order_id),
                    order_id=request.order_id,
                    amount_cents=order.total_cents,
                    currency=order.currency,
                    status=PAYMENT_CAPTURED,
                    run_id=run_id,
                )
                .on_conflict_do_nothing(index_elements=[payments.c.order_id])
            )
            payment = (
                await conn.execute(
                    select(*PAYMENT_COLUMNS, payments.c.run_id).where(
                        payments.c.order_id == request.order_id
                    )
                )
            ).one()
            if payment.run_id != run_id:
                raise foreign_run("the payment", request.order_id)
        activity.logger.info("payment captured")
        return payment_result(request.order_id, payment)
