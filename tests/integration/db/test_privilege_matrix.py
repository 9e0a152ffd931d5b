"""What each Vault-issued Postgres role can really do, against what the contract says.

For every database identity we log in to Vault with that identity's own projected token,
obtain its dynamic credential, and *try* every operation on every table (and, for SELECT,
INSERT and UPDATE, on every column), each in a transaction that is rolled back. Postgres'
answer must equal the contract's (the probes: :mod:`orders.verify.pg`, which ``orders
verify`` runs too). The migration holds the grants as literal statements, so
widening a grant there (or by hand) fails this test, and so does widening the contract
alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import asyncpg
import pytest

from orders.contract import identities
from orders.contract.identities import Identity
from orders.db.bootstrap import CLOSED_DATABASES
from orders.db.schema import metadata
from orders.devstack.state import StackInfo, StackPaths
from orders.evidence import GROUPS_OF_SQL
from orders.verify.pg import allowed, matrix_problems, probes, remit_problems
from tests.support import stack as support

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def credentials(stack: StackInfo, stack_paths: StackPaths) -> Iterator[dict[str, tuple[str, str]]]:
    """One dynamic credential per database identity, each via its own Vault login."""
    creds: dict[str, tuple[str, str]] = {}
    clients = []
    for ident in identities.db_identities():
        client = support.login_as(stack, stack_paths, ident)
        resp = client.secrets.database.generate_credentials(ident.db_role)
        creds[ident.name] = (resp["data"]["username"], resp["data"]["password"])
        clients.append(client)
    yield creds
    for client in clients:
        client.auth.token.revoke_self()  # revokes the leases: the roles are dropped


@pytest.mark.parametrize("identity", list(identities.db_identities()), ids=lambda i: i.name)
async def test_table_privileges_match_contract(
    stack: StackInfo, credentials: dict[str, tuple[str, str]], identity: Identity
) -> None:
    user, password = credentials[identity.name]
    conn = await support.connect_pg(stack, user, password)
    try:
        group = await conn.fetchval(GROUPS_OF_SQL.format(role="current_user"))
        assert group == identity.db_group
        mismatches, checked = await matrix_problems(conn, identity)
        assert checked > 100
        assert mismatches == []
    finally:
        await conn.close()


@pytest.mark.parametrize("identity", list(identities.db_identities()), ids=lambda i: i.name)
async def test_no_dynamic_role_creates_objects_outside_its_remit(
    stack: StackInfo, credentials: dict[str, tuple[str, str]], identity: Identity
) -> None:
    user, password = credentials[identity.name]
    conn = await support.connect_pg(stack, user, password)
    try:
        # Only the schema owner's group may create in its schema, alter or drop tables.
        assert await remit_problems(conn, identity) == []
    finally:
        await conn.close()


@pytest.mark.parametrize("identity", list(identities.db_identities()), ids=lambda i: i.name)
async def test_dynamic_roles_reach_only_the_orders_database(
    stack: StackInfo, credentials: dict[str, tuple[str, str]], identity: Identity
) -> None:
    user, password = credentials[identity.name]
    for database in CLOSED_DATABASES:
        with pytest.raises(
            asyncpg.InsufficientPrivilegeError, match="permission denied for database"
        ):
            await asyncpg.connect(
                host=stack.postgres_host,
                port=stack.postgres_port,
                database=database,
                user=user,
                password=password,
                timeout=10,
                **support.pg_tls(stack),
            )
    conn = await support.connect_pg(stack, user, password)
    try:
        assert await conn.fetchval("SELECT current_database()") == identities.DB_NAME
        assert not await allowed(conn, "CREATE TEMP TABLE zz_temp_probe (id int)")
    finally:
        await conn.close()


def test_every_identity_is_in_the_matrix() -> None:
    covered = {i.name for i in identities.db_identities()}
    activity_identities = {i.name for i in identities.ALL if i.kind is identities.Kind.ACTIVITY}
    # order-approvals reads only Vault (public keys): the one activity without a DB role.
    assert activity_identities - {identities.ORDER_APPROVALS.name} <= covered
    assert identities.ORDER_WORKFLOW.name not in covered
    assert identities.ORDER_APPROVALS.name not in covered
    assert len(list(itertools.islice(probes(), 5))) == 5
    # The matrix is built from the schema: every table of the contract is probed.
    assert {t.name for t in metadata.tables.values()} == set(identities.TABLES)
    assert {p.table for p in probes()} == set(identities.TABLES)


STOCK_MOVERS = (identities.ORDER_RESERVE_INVENTORY, identities.ORDER_RELEASE_INVENTORY)


@pytest.mark.parametrize("identity", STOCK_MOVERS, ids=lambda i: i.name)
async def test_stock_movers_cannot_change_a_price_but_move_stock_stamped_as_themselves(
    stack: StackInfo, stack_paths: StackPaths, identity: Identity
) -> None:
    # A credential of its own (test leases live seconds): the identity's Vault login.
    vault = support.login_as(stack, stack_paths, identity)
    resp = vault.secrets.database.generate_credentials(identity.db_role)
    user, password = resp["data"]["username"], resp["data"]["password"]
    conn = await support.connect_pg(stack, user, password)
    try:
        # Rolled back either way: were it allowed, every price would be 0.01 until then.
        assert not await allowed(conn, "UPDATE orders.inventory SET price_cents = 1")
        assert not await allowed(conn, "UPDATE orders.inventory SET name = 'x', sku = 'x'")
        # Their one job, committed (a no-op on a never-stocked SKU): the BEFORE UPDATE
        # trigger still stamps written_by, although they may not update that column.
        await conn.execute(
            "UPDATE orders.inventory SET available = available, reserved = reserved "
            "WHERE sku = 'SKU-SOLDOUT'"
        )
    finally:
        await conn.close()
    admin = await support.admin_pg(stack)
    try:
        stamped = await admin.fetchval(
            "SELECT written_by FROM orders.inventory WHERE sku = 'SKU-SOLDOUT'"
        )
    finally:
        await admin.close()
        vault.auth.token.revoke_self()  # revokes the lease: the role is dropped
    assert stamped == user
