"""Each order, reservation and payment names its run; column-level grants everywhere.

Revision ID: 0003
Revises: 0002

``run_id`` records the Temporal workflow run whose activity wrote the row, taken from the
activity's own ``activity.info()``: validate_order answers a retry of that run from the row
and refuses any other run (an order id is used once), reserve and payment refuse rows of
another run, and the compensations touch only their own run's rows. Rows written before
this migration have no run: no run adopts or compensates them.

The table-wide grants of 0001 are narrowed to the columns each activity really uses:
stock movers may change only ``available`` and ``reserved`` (never a price), the release
compensation only a reservation's ``status``, and nobody reads or writes a column it does
not use. Each table-wide privilege is revoked and granted again with its column list;
column grants of 0001 only gain the new column (a table-wide ``REVOKE`` would also drop
them, and its downgrade would then widen them to the whole table). Written out
literally: the privilege-matrix test compares Postgres' answers with the contract.

Column-level UPDATE still lets the ``stamp_writer`` trigger (0002) set ``written_by``:
privileges are checked on the statement's target columns, and a BEFORE trigger changes
``NEW``, not the statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import sqlalchemy as sa
from alembic import op

from orders.db.grants import grant_of, revoke_of

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA: Final = "orders"
RUN_TABLES: Final = ("orders", "reservations", "payments")

REVOKES: Final[tuple[str, ...]] = (
    "REVOKE INSERT ON TABLE orders.orders FROM grp_order_validate",
    "REVOKE INSERT ON TABLE orders.order_items FROM grp_order_validate",
    "REVOKE SELECT, UPDATE ON TABLE orders.inventory FROM grp_order_reserve_inventory",
    "REVOKE SELECT, INSERT ON TABLE orders.reservations FROM grp_order_reserve_inventory",
    "REVOKE SELECT, INSERT ON TABLE orders.payments FROM grp_order_process_payment",
    "REVOKE SELECT ON TABLE orders.payments FROM grp_order_refund_payment",
    "REVOKE SELECT, INSERT ON TABLE orders.shipments FROM grp_order_fulfill",
    "REVOKE SELECT, INSERT ON TABLE orders.notifications FROM grp_order_notify",
    "REVOKE SELECT, UPDATE ON TABLE orders.inventory FROM grp_order_release_inventory",
    "REVOKE SELECT, UPDATE ON TABLE orders.reservations FROM grp_order_release_inventory",
)
"""Table-wide privileges 0001 granted that the column lists below replace."""

GRANTS: Final[tuple[str, ...]] = (
    # order-validate: reads back only whose run recorded the order and its amount.
    "GRANT SELECT (id, run_id, total_cents, currency), "
    "INSERT (id, customer_id, customer_email, shipping_address, total_cents, currency, run_id) "
    "ON TABLE orders.orders TO grp_order_validate",
    "GRANT INSERT (order_id, sku, quantity, unit_price_cents) "
    "ON TABLE orders.order_items TO grp_order_validate",
    # order-reserve-inventory: moves stock, never a price; its rows name its run.
    "GRANT SELECT (sku, available, reserved), UPDATE (available, reserved) "
    "ON TABLE orders.inventory TO grp_order_reserve_inventory",
    "GRANT SELECT (order_id, sku, status, run_id), "
    "INSERT (order_id, sku, quantity, status, run_id) "
    "ON TABLE orders.reservations TO grp_order_reserve_inventory",
    # order-process-payment: also the run of the recorded order (0001 granted the rest).
    "GRANT SELECT (run_id) ON TABLE orders.orders TO grp_order_process_payment",
    "GRANT SELECT (transaction_id, order_id, amount_cents, currency, status, run_id), "
    "INSERT (transaction_id, order_id, amount_cents, currency, status, run_id) "
    "ON TABLE orders.payments TO grp_order_process_payment",
    # order-refund-payment: reads the run column to refund only its own run's payment.
    "GRANT SELECT (transaction_id, order_id, amount_cents, currency, status, run_id) "
    "ON TABLE orders.payments TO grp_order_refund_payment",
    # order-fulfill / order-notify: their own rows, column by column.
    "GRANT SELECT (tracking_number, order_id), INSERT (tracking_number, order_id, carrier) "
    "ON TABLE orders.shipments TO grp_order_fulfill",
    "GRANT SELECT (order_id, kind), INSERT (order_id, kind) "
    "ON TABLE orders.notifications TO grp_order_notify",
    # order-release-inventory: returns stock; flips only a reservation's status.
    "GRANT SELECT (sku, available, reserved), UPDATE (available, reserved) "
    "ON TABLE orders.inventory TO grp_order_release_inventory",
    "GRANT SELECT (order_id, sku, quantity, status, run_id), UPDATE (status) "
    "ON TABLE orders.reservations TO grp_order_release_inventory",
)


def upgrade() -> None:
    for table in RUN_TABLES:
        op.add_column(table, sa.Column("run_id", sa.Text(), nullable=True), schema=SCHEMA)
    for statement in REVOKES:
        op.execute(statement)
    for statement in GRANTS:
        op.execute(statement)


def downgrade() -> None:
    for statement in reversed(GRANTS):
        op.execute(revoke_of(statement))
    for statement in REVOKES:
        op.execute(grant_of(statement))
    for table in reversed(RUN_TABLES):
        op.drop_column(table, "run_id", schema=SCHEMA)
