"""The application schema as SQLAlchemy Core tables.

The activities build their statements from these tables, so a column an activity reads or
writes is spelled once. The alembic migrations are a frozen, independent statement of the
same schema (a unit test checks that the two agree).

The constraints are what make every activity idempotent: a retried activity re-runs its
statement and the unique/primary key turns the second attempt into a no-op.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    CHAR,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)

from orders.contract.identities import DB_SCHEMA, RUN_COLUMN

NAMING_CONVENTION: Final = {
    "pk": "pk_%(table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
}
"""Constraint names are deterministic so activities can recognise which one a retry hit."""


def _written_by() -> Column[str]:
    """Login role that last wrote the row; set by a trigger (migration 0002), not by callers."""
    return Column("written_by", Text, nullable=False, server_default=text("session_user"))


def _run_id() -> Column[str]:
    """Temporal run that wrote the row (migration 0003).

    Nullable only because rows written before 0003 have none; every activity writes it, and
    a row without one belongs to no run (no run adopts or compensates it).
    """
    return Column(RUN_COLUMN, Text, nullable=True)


metadata: Final = MetaData(schema=DB_SCHEMA, naming_convention=NAMING_CONVENTION)

RESERVATION_HELD: Final = "held"
RESERVATION_RELEASED: Final = "released"
PAYMENT_CAPTURED: Final = "captured"
PAYMENT_REFUNDED: Final = "refunded"
ORDER_RECORDED: Final = "recorded"

orders: Final = Table(
    "orders",
    metadata,
    Column("id", Text, primary_key=True),
    Column("customer_id", Text, nullable=False),
    Column("customer_email", Text, nullable=False),
    Column("shipping_address", Text, nullable=False),
    Column("total_cents", BigInteger, nullable=False),
    Column("currency", CHAR(3), nullable=False),
    Column("status", Text, nullable=False, server_default=ORDER_RECORDED),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("total_cents >= 0", name="total_cents_nonnegative"),
    _written_by(),
    _run_id(),
)

inventory: Final = Table(
    "inventory",
    metadata,
    Column("sku", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("price_cents", BigInteger, nullable=False),
    Column("available", Integer, nullable=False),
    Column("reserved", Integer, nullable=False, server_default="0"),
    CheckConstraint("price_cents >= 0", name="price_cents_nonnegative"),
    CheckConstraint("available >= 0", name="available_nonnegative"),
    CheckConstraint("reserved >= 0", name="reserved_nonnegative"),
    _written_by(),
)

order_items: Final = Table(
    "order_items",
    metadata,
    Column("order_id", Text, ForeignKey(orders.c.id), nullable=False),
    Column("sku", Text, ForeignKey(inventory.c.sku), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_cents", BigInteger, nullable=False),
    PrimaryKeyConstraint("order_id", "sku"),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("unit_price_cents >= 0", name="unit_price_cents_nonnegative"),
    _written_by(),
)

reservations: Final = Table(
    "reservations",
    metadata,
    Column("order_id", Text, ForeignKey(orders.c.id), nullable=False),
    Column("sku", Text, ForeignKey(inventory.c.sku), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("order_id", "sku"),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    CheckConstraint("status IN ('held', 'released')", name="status_known"),
    _written_by(),
    _run_id(),
)

payments: Final = Table(
    "payments",
    metadata,
    # No payment reference is stored at all: the simulator does not need it afterwards.
    Column("transaction_id", Text, primary_key=True),
    Column("order_id", Text, ForeignKey(orders.c.id), nullable=False, unique=True),
    Column("amount_cents", BigInteger, nullable=False),
    Column("currency", CHAR(3), nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("refunded_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("amount_cents >= 0", name="amount_cents_nonnegative"),
    CheckConstraint("status IN ('captured', 'refunded')", name="status_known"),
    CheckConstraint(
        "(status = 'refunded') = (refunded_at IS NOT NULL)", name="refunded_at_iff_refunded"
    ),
    _written_by(),
    _run_id(),
)

shipments: Final = Table(
    "shipments",
    metadata,
    Column("tracking_number", Text, primary_key=True),
    Column("order_id", Text, ForeignKey(orders.c.id), nullable=False, unique=True),
    Column("carrier", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    _written_by(),
)

erasures: Final = Table(
    "erasures",
    metadata,
    Column("customer_tag", Text, nullable=False),
    Column("erased_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("orders_affected", Integer, nullable=False),
    Column("histories_affected", Integer, nullable=False),
    PrimaryKeyConstraint("customer_tag", "erased_at"),
    CheckConstraint("customer_tag ~ '^[0-9a-f]{32}$'", name="customer_tag_is_a_tag"),
    _written_by(),
)
"""One row per ``orders customer forget``: the customer's tag, never their id or data."""

notifications: Final = Table(
    "notifications",
    metadata,
    Column("order_id", Text, ForeignKey(orders.c.id), nullable=False),
    Column("kind", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("order_id", "kind"),
    _written_by(),
)
