"""The evidence role reads who wrote each row: the key and ``written_by`` columns, nothing else.

Revision ID: 0004
Revises: 0003

``orders demo`` shows which Vault-issued user wrote each row of an order
(:data:`orders.evidence.WRITERS_SQL`). On kind it reads that as
``identities.DB_EVIDENCE_ROLE`` instead of the Postgres superuser, whose only way in there
is the server's own socket. The bootstrap creates the role (NOLOGIN unless a deployment
gives it a password); this grants it exactly the columns that query reads: no customer
data, no amounts, no write. Not an identity's grant, so not in ``GRANTS`` (which the tests
compare with the identity contract); ``tests/component/db/test_evidence_role.py`` checks these
against the query instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from alembic import op

from orders.db.grants import require_group, revoke_of

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE: Final = "orders_evidence"
"""``identities.DB_EVIDENCE_ROLE`` as it was when this migration was written."""

EVIDENCE_GRANTS: Final[tuple[str, ...]] = (
    "GRANT SELECT (id, written_by) ON TABLE orders.orders TO orders_evidence",
    "GRANT SELECT (order_id, written_by) ON TABLE orders.order_items TO orders_evidence",
    "GRANT SELECT (order_id, written_by) ON TABLE orders.reservations TO orders_evidence",
    "GRANT SELECT (order_id, written_by) ON TABLE orders.payments TO orders_evidence",
    "GRANT SELECT (order_id, written_by) ON TABLE orders.shipments TO orders_evidence",
    "GRANT SELECT (order_id, written_by) ON TABLE orders.notifications TO orders_evidence",
)


def upgrade() -> None:
    op.execute(require_group(ROLE))
    for statement in EVIDENCE_GRANTS:
        op.execute(statement)


def downgrade() -> None:
    for statement in reversed(EVIDENCE_GRANTS):
        op.execute(revoke_of(statement))
