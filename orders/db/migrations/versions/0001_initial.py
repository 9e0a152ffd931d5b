"""Initial schema, grants to the identity groups, catalogue seed.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

Runs as the order-migrate group (see env.py), which therefore owns every table. The GRANT
statements are written out literally, never generated from orders.contract.identities: the
privilege-matrix test compares what Postgres allows each role with the contract, so the
migration must be an independent statement of the grants. Nobody gets DELETE, TRUNCATE,
REFERENCES, TRIGGER or any schema privilege beyond the USAGE granted at bootstrap.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA: Final = "orders"

GRANTS: Final[tuple[str, ...]] = (
    # order-validate: prices from the catalogue, records the order.
    "GRANT SELECT (sku, price_cents) ON TABLE orders.inventory TO grp_order_validate",
    "GRANT INSERT ON TABLE orders.orders TO grp_order_validate",
    "GRANT INSERT ON TABLE orders.order_items TO grp_order_validate",
    # order-reserve-inventory: holds stock.
    "GRANT SELECT, UPDATE ON TABLE orders.inventory TO grp_order_reserve_inventory",
    "GRANT SELECT, INSERT ON TABLE orders.reservations TO grp_order_reserve_inventory",
    # order-process-payment: the amount comes from the order, nothing else of it.
    "GRANT SELECT (id, total_cents, currency) ON TABLE orders.orders TO grp_order_process_payment",
    "GRANT SELECT, INSERT ON TABLE orders.payments TO grp_order_process_payment",
    # order-refund-payment: may only flip a payment to refunded.
    "GRANT SELECT ON TABLE orders.payments TO grp_order_refund_payment",
    "GRANT UPDATE (status, refunded_at) ON TABLE orders.payments TO grp_order_refund_payment",
    # order-fulfill: the address, nothing else of the order.
    "GRANT SELECT (id, shipping_address) ON TABLE orders.orders TO grp_order_fulfill",
    "GRANT SELECT, INSERT ON TABLE orders.shipments TO grp_order_fulfill",
    # order-notify: the e-mail address, nothing else of the order.
    "GRANT SELECT (id, customer_email) ON TABLE orders.orders TO grp_order_notify",
    "GRANT SELECT, INSERT ON TABLE orders.notifications TO grp_order_notify",
    # order-release-inventory: returns held stock.
    "GRANT SELECT, UPDATE ON TABLE orders.inventory TO grp_order_release_inventory",
    "GRANT SELECT, UPDATE ON TABLE orders.reservations TO grp_order_release_inventory",
)

SEED_INVENTORY: Final[tuple[dict[str, str | int], ...]] = (
    {"sku": "SKU-WIDGET", "name": "Widget", "price_cents": 1250, "available": 1000},
    {"sku": "SKU-GADGET", "name": "Gadget", "price_cents": 4999, "available": 500},
    {"sku": "SKU-GIZMO", "name": "Gizmo", "price_cents": 899, "available": 2000},
    {"sku": "SKU-CABLE", "name": "USB-C cable", "price_cents": 1499, "available": 5000},
    # A single unit is above 1000.00: orders containing it need an approval.
    {"sku": "SKU-LAPTOP", "name": "Laptop", "price_cents": 149900, "available": 50},
    # Never in stock: drives the out-of-stock scenario.
    {"sku": "SKU-SOLDOUT", "name": "Sold-out item", "price_cents": 2500, "available": 0},
)


def _created_at() -> sa.Column[datetime]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def upgrade() -> None:
    # Constraint names are final (op.f): the migration must not change when the model's
    # naming convention does.
    op.create_table(
        "orders",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("customer_email", sa.Text(), nullable=False),
        sa.Column("shipping_address", sa.Text(), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("status", sa.Text(), nullable=False, server_default="recorded"),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.CheckConstraint("total_cents >= 0", name=op.f("ck_orders_total_cents_nonnegative")),
        schema=SCHEMA,
    )
    inventory = op.create_table(
        "inventory",
        sa.Column("sku", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("price_cents", sa.BigInteger(), nullable=False),
        sa.Column("available", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("sku", name=op.f("pk_inventory")),
        sa.CheckConstraint("price_cents >= 0", name=op.f("ck_inventory_price_cents_nonnegative")),
        sa.CheckConstraint("available >= 0", name=op.f("ck_inventory_available_nonnegative")),
        sa.CheckConstraint("reserved >= 0", name=op.f("ck_inventory_reserved_nonnegative")),
        schema=SCHEMA,
    )
    op.create_table(
        "order_items",
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("sku", sa.Text(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "sku", name=op.f("pk_order_items")),
        sa.ForeignKeyConstraint(
            ["order_id"], [f"{SCHEMA}.orders.id"], name=op.f("fk_order_items_order_id")
        ),
        sa.ForeignKeyConstraint(
            ["sku"], [f"{SCHEMA}.inventory.sku"], name=op.f("fk_order_items_sku")
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_items_quantity_positive")),
        sa.CheckConstraint(
            "unit_price_cents >= 0", name=op.f("ck_order_items_unit_price_cents_nonnegative")
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "reservations",
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("sku", sa.Text(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("order_id", "sku", name=op.f("pk_reservations")),
        sa.ForeignKeyConstraint(
            ["order_id"], [f"{SCHEMA}.orders.id"], name=op.f("fk_reservations_order_id")
        ),
        sa.ForeignKeyConstraint(
            ["sku"], [f"{SCHEMA}.inventory.sku"], name=op.f("fk_reservations_sku")
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_reservations_quantity_positive")),
        sa.CheckConstraint(
            "status IN ('held', 'released')", name=op.f("ck_reservations_status_known")
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "payments",
        sa.Column("transaction_id", sa.Text(), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        _created_at(),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("transaction_id", name=op.f("pk_payments")),
        sa.UniqueConstraint("order_id", name=op.f("uq_payments_order_id")),
        sa.ForeignKeyConstraint(
            ["order_id"], [f"{SCHEMA}.orders.id"], name=op.f("fk_payments_order_id")
        ),
        sa.CheckConstraint("amount_cents >= 0", name=op.f("ck_payments_amount_cents_nonnegative")),
        sa.CheckConstraint(
            "status IN ('captured', 'refunded')", name=op.f("ck_payments_status_known")
        ),
        sa.CheckConstraint(
            "(status = 'refunded') = (refunded_at IS NOT NULL)",
            name=op.f("ck_payments_refunded_at_iff_refunded"),
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "shipments",
        sa.Column("tracking_number", sa.Text(), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("carrier", sa.Text(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("tracking_number", name=op.f("pk_shipments")),
        sa.UniqueConstraint("order_id", name=op.f("uq_shipments_order_id")),
        sa.ForeignKeyConstraint(
            ["order_id"], [f"{SCHEMA}.orders.id"], name=op.f("fk_shipments_order_id")
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "notifications",
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("order_id", "kind", name=op.f("pk_notifications")),
        sa.ForeignKeyConstraint(
            ["order_id"], [f"{SCHEMA}.orders.id"], name=op.f("fk_notifications_order_id")
        ),
        schema=SCHEMA,
    )
    for statement in GRANTS:
        op.execute(statement)
    op.bulk_insert(inventory, list(SEED_INVENTORY))


def downgrade() -> None:
    for table in (
        "notifications",
        "shipments",
        "payments",
        "reservations",
        "order_items",
        "inventory",
        "orders",
    ):
        op.drop_table(table, schema=SCHEMA)
