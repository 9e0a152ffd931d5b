"""The demo's evidence role: reads who wrote each row and the live sessions, nothing else.

On kind the demo gets no superuser (its only way in is the server's socket): it reads its
evidence (:mod:`orders.evidence`) as ``identities.DB_EVIDENCE_ROLE``. Real Postgres: the
role is no superuser and holds no other role, the evidence queries run as it (the
migration's column grants), customer data and writes are refused, and it sees the workers'
sessions in ``pg_stat_activity`` without ``pg_read_all_stats``.
"""

from __future__ import annotations

import re
import secrets

import asyncpg
import pytest

from orders import evidence
from orders.contract import identities
from orders.db.bootstrap import bootstrap
from tests.support.migrations import load_migration
from tests.support.postgres import VAULT_ADMIN_PASSWORD, OrdersDb, fetch

ROLE = identities.DB_EVIDENCE_ROLE


@pytest.fixture
async def evidence_dsn(orders_db: OrdersDb) -> str:
    """The evidence role as a login (what the kind Postgres pod's db-bootstrap does)."""
    password = secrets.token_urlsafe(18)
    await bootstrap(orders_db.cluster.admin_dsn, VAULT_ADMIN_PASSWORD, password)
    return orders_db.cluster.dsn(ROLE, password)


async def test_evidence_role_is_no_superuser_and_holds_no_role(
    orders_db: OrdersDb, evidence_dsn: str
) -> None:
    (row,) = await fetch(
        orders_db,
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolinherit,"
        " rolcanlogin, rolconnlimit,"
        " (SELECT count(*) FROM pg_auth_members WHERE member = r.oid) AS memberships,"
        " has_database_privilege(rolname, 'postgres', 'CONNECT') AS maintenance_db"
        " FROM pg_roles r WHERE rolname = $1",
        ROLE,
    )
    # No pg_read_all_stats, no group (memberships 0): its own grants only.
    assert dict(row) == {
        "rolsuper": False,
        "rolcreaterole": False,
        "rolcreatedb": False,
        "rolreplication": False,
        "rolbypassrls": False,
        "rolinherit": False,
        "rolcanlogin": True,
        "rolconnlimit": 4,
        "memberships": 0,
        "maintenance_db": False,
    }


async def test_evidence_queries_run_as_the_evidence_role(
    orders_db: OrdersDb, evidence_dsn: str
) -> None:
    # A worker's session, as Vault would create it: the evidence role must see who it is.
    name, password = await orders_db.create_login_role(identities.ORDER_NOTIFY)
    worker = await asyncpg.connect(
        orders_db.cluster.dsn(name, password), server_settings={"application_name": "order-notify"}
    )
    try:
        assert await evidence.writers(evidence_dsn, "no-such-order") == []
        sessions = await evidence.sessions(evidence_dsn)
    finally:
        await worker.close()
    assert evidence.Session("order-notify", name, identities.ORDER_NOTIFY.db_group, 1) in sessions


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT customer_email FROM orders.orders",
        "SELECT shipping_address FROM orders.orders",
        "SELECT amount_cents FROM orders.payments",
        "SELECT * FROM orders.inventory",
        "INSERT INTO orders.notifications (order_id, kind) VALUES ('x', 'y')",
        "UPDATE orders.orders SET written_by = 'me'",
        "CREATE TABLE orders.mine (x int)",
        "CREATE TEMP TABLE mine (x int)",
    ],
)
async def test_evidence_role_reads_no_customer_data_and_writes_nothing(
    evidence_dsn: str, statement: str
) -> None:
    conn = await asyncpg.connect(evidence_dsn)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)
    finally:
        await conn.close()


async def test_evidence_role_cannot_open_the_maintenance_database(evidence_dsn: str) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await asyncpg.connect(evidence_dsn.rsplit("/", 1)[0] + "/postgres")


def test_grants_are_the_columns_the_writers_query_reads() -> None:
    """Each table of WRITERS_SQL: its key column and ``written_by``, SELECT only."""
    read = dict(re.findall(r"FROM orders\.(\w+) WHERE (\w+) = \$1", evidence.WRITERS_SQL))
    granted = {}
    for statement in load_migration("0004_evidence_reader.py").EVIDENCE_GRANTS:
        match = re.fullmatch(
            r"GRANT SELECT \((\w+), written_by\) ON TABLE orders\.(\w+) TO (\w+)", statement
        )
        assert match, statement
        assert match[3] == ROLE
        granted[match[2]] = match[1]
    assert granted == read
    assert len(read) == 6
