"""The erasure record: which customer's key material was destroyed, when, and by whom.

Revision ID: 0005
Revises: 0004

``orders customer forget`` (identity ``customer-eraser``) crypto-shreds a customer by
deleting their Transit key, then records it here. No personal data: the customer is named
by their tag (an HMAC of the customer id under a Vault Transit key nobody can export), the
operator by the Vault-issued login (``written_by``, stamped by the 0002 trigger), with the
counts the command reported. Only the eraser's group may insert, and only those columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import sqlalchemy as sa
from alembic import op

from orders.db.grants import require_group, revoke_of

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA: Final = "orders"
GROUP: Final = "grp_customer_eraser"

GRANTS: Final[tuple[str, ...]] = (
    # customer-eraser: finds a customer's orders (ids only) and records the erasure.
    "GRANT SELECT (id, customer_id) ON TABLE orders.orders TO grp_customer_eraser",
    "GRANT INSERT (customer_tag, orders_affected, histories_affected) "
    "ON TABLE orders.erasures TO grp_customer_eraser",
)


def upgrade() -> None:
    op.execute(require_group(GROUP))
    op.create_table(
        "erasures",
        sa.Column("customer_tag", sa.Text(), nullable=False),
        sa.Column(
            "erased_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("orders_affected", sa.Integer(), nullable=False),
        sa.Column("histories_affected", sa.Integer(), nullable=False),
        sa.Column("written_by", sa.Text(), nullable=False, server_default=sa.text("session_user")),
        sa.PrimaryKeyConstraint("customer_tag", "erased_at", name="pk_erasures"),
        sa.CheckConstraint("customer_tag ~ '^[0-9a-f]{32}$'", name="customer_tag_is_a_tag"),
        schema=SCHEMA,
    )
    op.execute(
        f"CREATE TRIGGER stamp_writer BEFORE INSERT OR UPDATE ON {SCHEMA}.erasures "
        f"FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.stamp_writer()"
    )
    for statement in GRANTS:
        op.execute(statement)


def downgrade() -> None:
    for statement in reversed(GRANTS):
        op.execute(revoke_of(statement))
    op.drop_table("erasures", schema=SCHEMA)
