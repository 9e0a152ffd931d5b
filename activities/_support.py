"""What every activity module shares: the engine holder, unsealing, error helpers, ids.

The engine handed in already connects with the identity's own (dynamic) Postgres role, so
an activity can do exactly what its grants allow. The unsealer handed in holds the
identity's own Vault token, so it opens exactly the sealed fields the identity consumes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Final, cast

from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from orders.contract.identities import Identity
from orders.contract.transit_names import SEALED_FIELDS
from orders.db.schema import payments
from orders.models import BusinessError, PaymentResult
from orders.security.customer_keys import CustomerErasedError
from orders.security.sealing import Unsealer
from orders.security.transit import TransitInvalidError

UNIQUE_VIOLATION: Final = "23505"
FOREIGN_KEY_VIOLATION: Final = "23503"

NOT_RECORDED: Final = "NotRecorded"
"""``ApplicationError.type`` for a row an earlier step must have written but did not.

Not a :class:`BusinessError`: it means the saga's own invariants are broken, which no retry
fixes and which the workflow must not report as a customer-facing outcome.
"""

SEALED_FIELD_DENIED: Final = "SealedFieldDenied"
"""``ApplicationError.type`` when Vault (or the local check) refuses to unseal a field.

A misconfiguration (the worker runs with another identity's policy), not a business
outcome: no retry fixes it, and the order must not be reported as, say, declined.
"""

SEALED_FIELD_INVALID: Final = "SealedFieldInvalid"
"""``ApplicationError.type`` for a sealed value that does not open for this order.

It was sealed for another order or field, or tampered with: retrying cannot help.
"""

CUSTOMER_ERASED: Final = "CustomerErased"
"""``ApplicationError.type`` for a sealed field whose customer was erased (crypto-shredded).

Final: the customer's key material is destroyed, so no retry, worker or operator can ever
open the value again. ``orders customer forget`` refuses while an order is in flight, so
only an order re-opened after its customer's erasure meets this.
"""


FOREIGN_RUN: Final = "ForeignRun"
"""``ApplicationError.type`` when the order's rows were written by another workflow run.

Not a :class:`BusinessError`: with one run per order id (the client's REJECT_DUPLICATE, the
workflow's id check, validate_order's DuplicateOrder) this cannot happen in a sound saga.
A run that meets another run's reservation or payment must not adopt it (its compensation
would then undo the other order), and retrying cannot change whose rows they are.
"""

NO_WORKFLOW_RUN: Final = "NoWorkflowRun"
"""``ApplicationError.type`` for an activity that is not running for a workflow run."""


class DbActivities:
    """Base of the activity classes: one per identity, holding that identity's engine.

    Attributes:
        identity: The identity whose worker registers these activities.
    """

    identity: ClassVar[Identity]

    def __init__(self, engine: AsyncEngine | None, unsealer: Unsealer | None = None) -> None:
        """Keep the engine and, for identities that consume sealed fields, the unsealer.

        Args:
            engine: Async engine for the application database (its connections use the
                identity's own database role); None only for an identity without one.
            unsealer: Opens the sealed fields :attr:`identity` consumes; required exactly
                when it consumes one (payment, fulfill, notify), optional otherwise.

        Raises:
            ValueError: If the unsealer belongs to another identity, or one is needed and
                missing: a wiring mistake, refused when the worker is built rather than on
                the first order.
        """
        if unsealer is not None and unsealer.identity != self.identity:
            raise ValueError(
                f"{type(self).__name__} runs as {self.identity.name}, "
                f"but the unsealer is {unsealer.identity.name}'s"
            )
        if unsealer is None and any(s.consumer == self.identity for s in SEALED_FIELDS):
            raise ValueError(f"{self.identity.name} consumes sealed fields and needs an Unsealer")
        if engine is None and self.identity.has_db_role:
            raise ValueError(f"{self.identity.name} has a database role and needs an engine")
        self._db = engine
        self._unsealer = unsealer

    @property
    def _engine(self) -> AsyncEngine:
        """The identity's engine (constructor-checked for every identity with a DB role)."""
        if self._db is None:
            raise ValueError(f"{self.identity.name} has no database role")
        return self._db

    async def unseal(self, field: str, order_id: str, sealed: str) -> str:
        """Open a sealed field of ``order_id`` for this identity. Never log the result.

        Args:
            field: The sealed field's name.
            order_id: The order it must belong to.
            sealed: Its Transit ciphertext.

        Returns:
            The plaintext.

        Raises:
            ApplicationError: ``SealedFieldDenied``, ``SealedFieldInvalid`` or
                ``CustomerErased``, all non-retryable; messages name the field and order only.
            VaultUnavailableError: Propagated as is, so Temporal retries the activity: an
                outage delays the order, it never fails it.
        """
        if self._unsealer is None:
            # The constructor guarantees an unsealer for every consumer identity.
            raise sealed_field_denied(field, order_id, f"{self.identity.name} has no unsealer")
        try:
            return await self._unsealer.unseal(field, order_id, sealed)
        except PermissionError as exc:
            # Vault's 403 (TransitDeniedError) and the local not-the-consumer check alike.
            raise sealed_field_denied(field, order_id, str(exc)) from None
        except CustomerErasedError:
            raise ApplicationError(
                f"sealed {field} of order {order_id} is erased: the customer's key material "
                "was destroyed (right to erasure)",
                type=CUSTOMER_ERASED,
                non_retryable=True,
            ) from None
        except TransitInvalidError:
            raise ApplicationError(
                f"sealed {field} of order {order_id} does not open: it belongs to another "
                "order or field, or was altered",
                type=SEALED_FIELD_INVALID,
                non_retryable=True,
            ) from None

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


def own_run() -> str:
    """The workflow run this activity runs for, from Temporal's own activity info.

    Never from the activity's input: whoever scheduled the activity chose the input, while
    the run id is what the server dispatched the task for.

    Raises:
        ApplicationError: ``NoWorkflowRun`` (non-retryable) outside a workflow run.
    """
    run_id = activity.info().workflow_run_id
    if not run_id:
        raise ApplicationError(
            "this activity records rows for a workflow run and was not started by one",
            type=NO_WORKFLOW_RUN,
            non_retryable=True,
        )
    return run_id


def foreign_run(what: str, order_id: str) -> ApplicationError:
    """A non-retryable refusal to adopt ``what`` of ``order_id`` written by another run.

    The message names the order only: neither run id nor anything of the other run's rows.
    """
    return ApplicationError(
        f"{what} of order {order_id} belongs to another workflow run; not adopted",
        type=FOREIGN_RUN,
        non_retryable=True,
    )


def business_error(kind: BusinessError, message: str) -> ApplicationError:
    """A non-retryable failure the workflow turns into an order outcome.

    Args:
        kind: Which business failure (the workflow maps it to an outcome).
        message: Human-readable reason; must never contain PII (it ends up in the
            workflow's ``reason``).
    """
    return ApplicationError(message, type=kind.value, non_retryable=True)


def sealed_field_denied(field: str, order_id: str, why: str) -> ApplicationError:
    """A non-retryable failure for a sealed field this worker may not open."""
    return ApplicationError(
        f"cannot unseal {field} of order {order_id}: {why}",
        type=SEALED_FIELD_DENIED,
        non_retryable=True,
    )


def not_recorded(what: str, order_id: str) -> ApplicationError:
    """A non-retryable failure for a row an earlier step should have written."""
    return ApplicationError(
        f"no {what} recorded for order {order_id}", type=NOT_RECORDED, non_retryable=True
    )


PAYMENT_COLUMNS: Final = (
    payments.c.transaction_id,
    payments.c.amount_cents,
    payments.c.currency,
    payments.c.status,
)
"""What both payment activities (capture, refund) answer with; both identities' grants
cover these columns. Select them first: :func:`payment_result` reads them by name."""


def payment_result(order_id: str, row: Row[*tuple[Any, ...]]) -> PaymentResult:
    """The :class:`PaymentResult` of a row selected with :data:`PAYMENT_COLUMNS` first."""
    return PaymentResult(
        order_id=order_id,
        transaction_id=row.transaction_id,
        amount_cents=row.amount_cents,
        currency=row.currency,
        status=row.status,
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
