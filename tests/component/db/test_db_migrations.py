"""The migrations on a real Postgres: ownership, schema, grants and seed."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Connection, MetaData, Text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.schema import CreateTable

from orders.contract import identities
from orders.contract.identities import Privilege
from orders.db.migrate import async_url, head_revision, upgrade_async
from orders.db.schema import metadata
from tests.support.postgres import OrdersDb, fetch

SCHEMA = identities.DB_SCHEMA
MIGRATE_GROUP = identities.ORDER_MIGRATE.db_group


async def test_everything_is_owned_by_the_migrate_group(orders_db: OrdersDb) -> None:
    rows = await fetch(
        orders_db,
        "SELECT c.relname, pg_get_userbyid(c.relowner) AS owner FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1",
        SCHEMA,
    )
    names = {r["relname"] for r in rows}
    assert set(identities.TABLES) | {"alembic_version"} <= names
    assert {r["owner"] for r in rows} == {MIGRATE_GROUP}


async def test_migrator_login_owns_nothing_and_can_be_dropped(orders_db: OrdersDb) -> None:
    assert orders_db.migrator
    owned = await fetch(
        orders_db,
        "SELECT count(*) AS n FROM pg_class WHERE relowner = "
        "(SELECT oid FROM pg_roles WHERE rolname = $1)",
        orders_db.migrator,
    )
    assert owned[0]["n"] == 0
    # What Vault's revocation does; it would fail if the user owned any object.
    conn = await asyncpg.connect(orders_db.vault_admin_dsn)
    try:
        await conn.execute(f'DROP ROLE "{orders_db.migrator}"')
    finally:
        await conn.close()


async def test_upgrade_again_is_a_no_op(orders_db: OrdersDb) -> None:
    name, password = await orders_db.create_login_role(identities.ORDER_MIGRATE)
    await upgrade_async(orders_db.cluster.dsn(name, password))
    rows = await fetch(orders_db, "SELECT version_num FROM orders.alembic_version")
    assert [r["version_num"] for r in rows] == [head_revision()]


async def test_only_the_migrate_group_can_migrate(orders_db: OrdersDb) -> None:
    name, password = await orders_db.create_login_role(identities.ORDER_VALIDATE)
    with pytest.raises(Exception, match="permission denied"):
        await upgrade_async(orders_db.cluster.dsn(name, password))


def _diff(connection: Connection, target: MetaData) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "include_schemas": True,
            "include_name": lambda name, type_, _parent: type_ != "schema" or name == SCHEMA,
            "compare_type": True,
            "version_table_schema": SCHEMA,
        },
    )
    return list(compare_metadata(context, target))


async def test_migrated_schema_matches_sqlalchemy_metadata(orders_db: OrdersDb) -> None:
    # The same comparison must notice a column the migrations do not have.
    drifted = MetaData(schema=SCHEMA)
    for table in metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables[f"{SCHEMA}.orders"].append_column(Column("drift", Text))
    # With the database's search_path, "orders" would be the default schema and reflected
    # as schema None; compare it as the named schema the metadata uses.
    engine = create_async_engine(
        async_url(orders_db.superuser_dsn),
        connect_args={"server_settings": {"search_path": "public"}},
    )
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(_diff, metadata)
            drift = await conn.run_sync(_diff, drifted)
    finally:
        await engine.dispose()
    assert diff == []
    assert [d[0] for d in drift] == ["add_column"]


async def test_real_privileges_equal_the_contract(orders_db: OrdersDb) -> None:
    """A quick in-unit version of the privilege matrix, on the group roles themselves."""
    mismatches: list[tuple[str, Privilege, str, str | None]] = []
    conn = await asyncpg.connect(orders_db.superuser_dsn)
    try:
        for ident in identities.db_identities():
            if ident.owns_schema:
                continue
            for table in metadata.tables.values():
                grant = ident.grant_for(table.name)
                qualified = f"{SCHEMA}.{table.name}"
                for privilege in (Privilege.SELECT, Privilege.INSERT, Privilege.UPDATE):
                    for column in (c.name for c in table.columns):
                        got = await conn.fetchval(
                            "SELECT has_column_privilege($1, $2, $3, $4)",
                            ident.db_group,
                            qualified,
                            column,
                            privilege.value,
                        )
                        expected = grant is not None and grant.allows(privilege, column)
                        if got != expected:
                            mismatches.append((ident.name, privilege, qualified, column))
                for privilege in (Privilege.DELETE, Privilege.TRUNCATE):
                    if await conn.fetchval(
                        "SELECT has_table_privilege($1, $2, $3)",
                        ident.db_group,
                        qualified,
                        privilege.value,
                    ):
                        mismatches.append((ident.name, privilege, qualified, None))
    finally:
        await conn.close()
    assert mismatches == []


async def test_seed_inventory(orders_db: OrdersDb) -> None:
    rows = await fetch(
        orders_db, "SELECT sku, price_cents, available, reserved FROM orders.inventory"
    )
    seed = {r["sku"]: r for r in rows}
    assert seed["SKU-SOLDOUT"]["available"] == 0
    assert seed["SKU-LAPTOP"]["price_cents"] > 100_000
    assert all(r["reserved"] == 0 or r["sku"].startswith("T-") for r in rows)
    assert len([s for s in seed if s.startswith("SKU-")]) >= 5


async def test_constraint_names_match_the_model(orders_db: OrdersDb) -> None:
    # compare_metadata ignores CHECK constraints; their names are what activities see.
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    expected = {
        name
        for table in metadata.tables.values()
        for name in re.findall(
            r"CONSTRAINT (\w+)", str(CreateTable(table).compile(dialect=dialect))
        )
    }
    rows = await fetch(
        orders_db,
        "SELECT c.conname FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid"
        " JOIN pg_namespace n ON n.oid = c.connamespace"
        " WHERE n.nspname = $1 AND t.relname <> 'alembic_version' AND c.contype <> 'n'",
        SCHEMA,
    )
    assert {r["conname"] for r in rows} == expected
    assert "ck_orders_total_cents_nonnegative" in expected
