"""Stamp every row with the database login that wrote it.

Revision ID: 0002
Revises: 0001

A BEFORE INSERT OR UPDATE trigger sets ``written_by`` to ``session_user``: the Vault-issued
login role of the connection (``current_user`` could differ after SET ROLE). The inserter
cannot choose the value, so the column is evidence, not a claim: it shows which
identity's short-lived role wrote each fact.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA: Final = "orders"
TABLES: Final = (
    "orders",
    "order_items",
    "inventory",
    "reservations",
    "payments",
    "shipments",
    "notifications",
)

STAMP_FUNCTION: Final = f"""
CREATE FUNCTION {SCHEMA}.stamp_writer() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    NEW.written_by := session_user;
    RETURN NEW;
END
$$
"""


def upgrade() -> None:
    op.execute(STAMP_FUNCTION)
    op.execute(f"REVOKE ALL ON FUNCTION {SCHEMA}.stamp_writer() FROM PUBLIC")
    for table in TABLES:
        op.add_column(
            table,
            sa.Column(
                "written_by", sa.Text(), nullable=False, server_default=sa.text("session_user")
            ),
            schema=SCHEMA,
        )
        op.execute(
            f"CREATE TRIGGER stamp_writer BEFORE INSERT OR UPDATE ON {SCHEMA}.{table} "
            f"FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.stamp_writer()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER stamp_writer ON {SCHEMA}.{table}")
        op.drop_column(table, "written_by", schema=SCHEMA)
    op.execute(f"DROP FUNCTION {SCHEMA}.stamp_writer()")
