"""What every activity module shares: the engine holder, error helpers, derived ids.

Nothing here knows about Vault: the engine handed in already connects with the identity's
own (dynamic) Postgres role, so an activity can do exactly what its grants allow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Final, cast

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.exceptions import ApplicationError

from orders.identities import Identity
from orders.models import BusinessError

UNIQUE_VIOLATION: Final = "23505"
FOREIGN_KEY_VIOLATION: Final = "23503"

NOT_RECORDED: Final = "NotRecorded"
"""``ApplicationError.type`` for a row an earlier step must have written but did not.

Not a :class:`BusinessError`: it means the saga's own invariants are broken, which no retry
fixes and which the workflow must not report as a customer-facing outcome.
"""


class DbActivities:
    """Base of the activity classes: one per identity, holding that identity's engine.

    Attributes:
        identity: The identity whose worker registers these activities.
    """

    identity: ClassVar[Identity]

    def __init__(self, engine: AsyncEngine) -> None:
        """Keep the engine (its connections use the identity's own database role).

        Args:
            engine: Async engine for the application database.
        """
        self._engine = engine

    def definitions(self) -> list[Callable[..., Awaitable[Any]]]:
        """The bound activity methods, one per activity name of :attr:`identity`.

        Each method is named exactly like its activity (``validate_order`` ...), which the
        unit tests check against the ``@activity.defn`` names.
        """
        found: list[Callable[..., Awaitable[Any]]] = []
        for name in self.identity.activities:
            method = getattr(self, name, None)
            if not callable(method):
                raise TypeError(f"{type(self).__name__} has no activity method {name!r}")
            found.append(cast("Callable[..., Awaitable[Any]]", method))
        return found


def business_error(kind: BusinessError, message: str) -> ApplicationError:
    """A non-retryable failure the workflow turns into an order outcome.

    Args:
        kind: Which business failure (the workflow maps it to an outcome).
        message: Human-readable reason; must never contain PII (it ends up in the
            workflow's ``reason``).
    """
    return ApplicationError(message, type=kind.value, non_retryable=True)


def not_recorded(what: str, order_id: str) -> ApplicationError:
    """A non-retryable failure for a row an earlier step should have written."""
    return ApplicationError(
        f"no {what} recorded for order {order_id}", type=NOT_RECORDED, non_retryable=True
    )


def violation(exc: IntegrityError, sqlstate: str) -> str | None:
    """Constraint name if ``exc`` is the given violation (``23505`` ...), else None.

    Args:
        exc: What SQLAlchemy raised.
        sqlstate: The SQLSTATE to look for.

    Returns:
        The violated constraint's name ("" if the server did not name one), or None.
    """
    if getattr(exc.orig, "sqlstate", None) != sqlstate:
        return None
    # SQLAlchemy's asyncpg adapter keeps the driver's exception as the cause.
    driver_error = getattr(exc.orig, "__cause__", None)
    return str(getattr(driver_error, "constraint_name", "") or "")


def derived_id(prefix: str, purpose: str, order_id: str, length: int = 20) -> str:
    """A deterministic id for the order's payment, shipment ...: the same on every retry.

    Args:
        prefix: Human-readable prefix (``TXN``, ``TRK``).
        purpose: Domain separator, so two kinds of id for one order never coincide.
        order_id: The order.
        length: Number of hex digits kept.
    """
    digest = hashlib.sha256(f"{purpose}\x00{order_id}".encode()).hexdigest()
    return f"{prefix}-{digest[:length].upper()}"
