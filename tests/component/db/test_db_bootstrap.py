"""bootstrap(): database, groups, schema and Vault's admin role, on a real Postgres."""

from __future__ import annotations

import base64

import asyncpg
import pytest

from orders.contract import identities
from orders.db.bootstrap import CLOSED_DATABASES, bootstrap, scram_sha256_verifier
from tests.support.postgres import VAULT_ADMIN_PASSWORD, OrdersDb, execute, fetch

GROUPS = [i.db_group for i in identities.db_identities()]


async def test_bootstrap_is_idempotent(orders_db: OrdersDb) -> None:
    await bootstrap(orders_db.cluster.admin_dsn, VAULT_ADMIN_PASSWORD)
    await bootstrap(
        orders_db.cluster.admin_dsn.replace("postgresql://", "postgresql+asyncpg://"),
        VAULT_ADMIN_PASSWORD,
    )
    rows = await fetch(orders_db, "SELECT rolname FROM pg_roles WHERE rolname LIKE 'grp\\_%'")
    assert sorted(r["rolname"] for r in rows) == sorted(GROUPS)


async def test_rerun_without_password_keeps_the_rotated_one(orders_db: OrdersDb) -> None:
    # What Vault's rotate-root does: only Vault knows the new password afterwards.
    rotated = "rotated-" + base64.b16encode(b"by-vault").decode()
    await execute(
        orders_db,
        f"ALTER ROLE {identities.VAULT_DB_ADMIN_ROLE} PASSWORD '{rotated}'",
    )
    try:
        await bootstrap(orders_db.cluster.admin_dsn, None)
        conn = await asyncpg.connect(orders_db.cluster.dsn(identities.VAULT_DB_ADMIN_ROLE, rotated))
        await conn.close()
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(orders_db.vault_admin_dsn)
    finally:
        await bootstrap(orders_db.cluster.admin_dsn, VAULT_ADMIN_PASSWORD)


async def test_groups_are_nologin_with_connect_and_usage_only(orders_db: OrdersDb) -> None:
    for group in GROUPS:
        (row,) = await fetch(
            orders_db,
            "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolinherit,"
            " has_database_privilege(rolname, $2, 'CONNECT') AS can_connect,"
            " has_database_privilege(rolname, $2, 'TEMP') AS can_temp,"
            " has_database_privilege(rolname, $2, 'CREATE') AS can_create_schema,"
            " has_schema_privilege(rolname, $3, 'USAGE') AS usage,"
            " has_schema_privilege(rolname, $3, 'CREATE') AS create_in_schema"
            " FROM pg_roles WHERE rolname = $1",
            group,
            identities.DB_NAME,
            identities.DB_SCHEMA,
        )
        assert not row["rolcanlogin"]
        assert not row["rolsuper"]
        assert not row["rolcreaterole"]
        assert not row["rolcreatedb"]
        assert row["can_connect"]
        assert not row["can_temp"]
        assert not row["can_create_schema"]
        assert row["usage"]
        # Only the schema owner (the migrate group) may create objects in it.
        assert row["create_in_schema"] is (group == identities.ORDER_MIGRATE.db_group)


async def test_public_cannot_connect(orders_db: OrdersDb) -> None:
    await execute(orders_db, "DROP ROLE IF EXISTS outsider")
    await execute(orders_db, "CREATE ROLE outsider LOGIN PASSWORD 'outsider-pw'")
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await asyncpg.connect(orders_db.cluster.dsn("outsider", "outsider-pw"))
    finally:
        await execute(orders_db, "DROP ROLE outsider")


@pytest.mark.parametrize("database", CLOSED_DATABASES)
async def test_dynamic_roles_and_vault_admin_cannot_use_the_other_databases(
    orders_db: OrdersDb, database: str
) -> None:
    name, password = await orders_db.create_login_role(identities.ORDER_NOTIFY)
    users = [(name, password), (identities.VAULT_DB_ADMIN_ROLE, VAULT_ADMIN_PASSWORD)]
    for user, pw in users:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await asyncpg.connect(orders_db.cluster.dsn(user, pw, database))
    (row,) = await fetch(
        orders_db,
        "SELECT has_database_privilege('public', $1, 'CONNECT') AS can_connect,"
        " has_database_privilege('public', $1, 'TEMP') AS can_temp",
        database,
    )
    assert not row["can_connect"]
    assert not row["can_temp"]


async def test_dynamic_role_connects_to_orders_but_creates_no_temp_table(
    orders_db: OrdersDb,
) -> None:
    name, password = await orders_db.create_login_role(identities.ORDER_NOTIFY)
    conn = await asyncpg.connect(orders_db.cluster.dsn(name, password))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TEMP TABLE zz_probe (id int)")
    finally:
        await conn.close()


async def test_a_database_copied_from_template1_gets_the_default_acl(
    orders_db: OrdersDb,
) -> None:
    # Documents what the template1 revoke does not do: CREATE DATABASE does not copy it.
    admin = await asyncpg.connect(orders_db.cluster.admin_dsn)
    try:
        await admin.execute("DROP DATABASE IF EXISTS zz_from_template1")
        await admin.execute("CREATE DATABASE zz_from_template1 TEMPLATE template1")
        try:
            acl = await admin.fetchval(
                "SELECT datacl FROM pg_database WHERE datname = 'zz_from_template1'"
            )
        finally:
            await admin.execute("DROP DATABASE zz_from_template1")
    finally:
        await admin.close()
    assert acl is None


async def test_schema_owned_by_migrate_group_and_search_path(orders_db: OrdersDb) -> None:
    (row,) = await fetch(
        orders_db,
        "SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = $1",
        identities.DB_SCHEMA,
    )
    assert row["owner"] == identities.ORDER_MIGRATE.db_group
    engine_role, password = await orders_db.create_login_role(identities.ORDER_NOTIFY)
    conn = await asyncpg.connect(orders_db.cluster.dsn(engine_role, password))
    try:
        assert await conn.fetchval("SHOW search_path") == identities.DB_SCHEMA
    finally:
        await conn.close()


async def test_vault_admin_may_hand_out_groups_but_not_use_them(orders_db: OrdersDb) -> None:
    (role,) = await fetch(
        orders_db,
        "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls"
        " FROM pg_roles WHERE rolname = $1",
        identities.VAULT_DB_ADMIN_ROLE,
    )
    assert role["rolcanlogin"]
    assert role["rolcreaterole"]
    assert not role["rolsuper"]
    assert not role["rolcreatedb"]
    assert not role["rolreplication"]
    assert not role["rolbypassrls"]
    memberships = await fetch(
        orders_db,
        "SELECT g.rolname AS grp, m.admin_option, m.inherit_option, m.set_option"
        " FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid"
        " JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = $1",
        identities.VAULT_DB_ADMIN_ROLE,
    )
    by_group = {r["grp"]: r for r in memberships}
    dynamic = set(by_group) - {*GROUPS, "pg_signal_backend"}
    assert {*GROUPS, "pg_signal_backend"} <= set(by_group)
    # Besides the groups, only roles it created itself (admin-only, as Vault's users are).
    assert all(name.startswith("v-") for name in dynamic)
    for group in (*GROUPS, *dynamic):
        assert by_group[group]["admin_option"]
        assert not by_group[group]["inherit_option"]
        assert not by_group[group]["set_option"]

    conn = await asyncpg.connect(orders_db.vault_admin_dsn)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT customer_email FROM orders.orders")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(f"SET ROLE {identities.ORDER_MIGRATE.db_group}")
    finally:
        await conn.close()


async def test_vault_admin_can_revoke_a_dynamic_role(orders_db: OrdersDb) -> None:
    name, password = await orders_db.create_login_role(identities.ORDER_FULFILL)
    victim = await asyncpg.connect(orders_db.cluster.dsn(name, password))
    admin = await asyncpg.connect(orders_db.vault_admin_dsn)
    try:
        terminated = await admin.fetchval(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))"
            " FROM pg_stat_activity WHERE usename = $1",
            name,
        )
        assert terminated == 1
        await admin.execute(f'DROP ROLE "{name}"')
    finally:
        await admin.close()
        await victim.close(timeout=1)
    assert not await fetch(orders_db, "SELECT 1 FROM pg_roles WHERE rolname = $1", name)


@pytest.mark.parametrize(
    "password",
    ["plain-ascii-Password1", 'it\'s "quoted" \\ back', "pässwörd\u00a0with nbsp", "\u0627\u0628"],
)
async def test_scram_verifier_matches_postgres(orders_db: OrdersDb, password: str) -> None:
    await execute(orders_db, "DROP ROLE IF EXISTS scram_probe")
    await execute(orders_db, "CREATE ROLE scram_probe LOGIN")
    try:
        conn = await asyncpg.connect(orders_db.superuser_dsn)
        try:
            # Postgres hashes the cleartext itself; we recompute with its salt.
            escaped = password.replace("'", "''")
            await conn.execute(f"ALTER ROLE scram_probe PASSWORD '{escaped}'")
            stored = await conn.fetchval(
                "SELECT rolpassword FROM pg_authid WHERE rolname = 'scram_probe'"
            )
        finally:
            await conn.close()
        iterations, salt = stored.split("$")[1].split(":")
        ours = scram_sha256_verifier(
            password, salt=base64.b64decode(salt), iterations=int(iterations)
        )
        assert ours == stored
    finally:
        await execute(orders_db, "DROP ROLE scram_probe")


async def test_vault_admin_logs_in_with_the_bootstrap_password(orders_db: OrdersDb) -> None:
    conn = await asyncpg.connect(orders_db.vault_admin_dsn)
    try:
        assert await conn.fetchval("SELECT current_user") == identities.VAULT_DB_ADMIN_ROLE
    finally:
        await conn.close()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(
            orders_db.cluster.dsn(identities.VAULT_DB_ADMIN_ROLE, "not-" + VAULT_ADMIN_PASSWORD)
        )
