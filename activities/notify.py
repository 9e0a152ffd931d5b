"""order-notify: tell the customer their order is complete, once."""

from __future__ import annotations

from typing import Final, Protocol

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities._support import DbActivities, not_recorded
from orders.contract import identities
from orders.db.schema import notifications, orders
from orders.models import Notification, OrderRef
from orders.security.sealing import Unsealer

ORDER_COMPLETED: Final = "order_completed"


class Mailer(Protocol):
    """Delivers a notification to a customer."""

    async def send(self, *, order_id: str, recipient: str, kind: str) -> None:
        """Deliver notification ``kind`` about ``order_id`` to ``recipient``."""
        ...


class LogMailer:
    """The local stand-in for a mail service: logs that it sent, never to whom."""

    async def send(self, *, order_id: str, recipient: str, kind: str) -> None:
        """Log one line with the order id and kind only (the recipient is PII)."""
        del recipient
        activity.logger.info("customer notified: %s for order %s", kind, order_id)


class NotifyCustomer(DbActivities):
    """Activities of the order-notify identity."""

    identity = identities.ORDER_NOTIFY

    def __init__(
        self, engine: AsyncEngine, unsealer: Unsealer | None = None, mailer: Mailer | None = None
    ) -> None:
        """Keep the engine, the unsealer and the mailer.

        Args:
            engine: Async engine for the application database.
            unsealer: Opens the customer's e-mail address (required: this identity is its
                consumer).
            mailer: Delivery channel; logs only, by default.
        """
        super().__init__(engine, unsealer)
        self._mailer: Mailer = mailer if mailer is not None else LogMailer()

    @activity.defn(name=identities.NOTIFY_CUSTOMER)
    async def notify_customer(self, ref: OrderRef) -> Notification:
        """Send the order-completed notification unless it was already recorded as sent.

        Delivery is at least once: a crash between sending and recording means one resend.
        The e-mail address is stored sealed to this identity and unsealed only to send.

        Args:
            ref: The order.

        Returns:
            The notification.

        Raises:
            ApplicationError: ``SealedFieldDenied`` / ``SealedFieldInvalid``
                (non-retryable) if the address does not open for this worker and order;
                ``CustomerErased`` (non-retryable) if the customer's key material was
                destroyed (``orders customer forget``).
            VaultUnavailableError: Vault unreachable; Temporal retries the activity.
        """
        async with self._engine.connect() as conn:
            sent = (
                await conn.execute(
                    select(notifications.c.kind).where(
                        notifications.c.order_id == ref.order_id,
                        notifications.c.kind == ORDER_COMPLETED,
                    )
                )
            ).one_or_none()
            if sent is not None:
                return Notification(order_id=ref.order_id, kind=ORDER_COMPLETED)
            sealed = (
                await conn.execute(
                    select(orders.c.customer_email).where(orders.c.id == ref.order_id)
                )
            ).scalar_one_or_none()
        if sealed is None:
            raise not_recorded("order", ref.order_id)
        email = await self.unseal("customer_email", ref.order_id, sealed)
        # Outside any transaction: no connection is held while the mail service is slow.
        await self._mailer.send(order_id=ref.order_id, recipient=email, kind=ORDER_COMPLETED)
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(notifications)
                .values(order_id=ref.order_id, kind=ORDER_COMPLETED)
                .on_conflict_do_nothing(
                    index_elements=[notifications.c.order_id, notifications.c.kind]
                )
            )
        return Notification(order_id=ref.order_id, kind=ORDER_COMPLETED)
