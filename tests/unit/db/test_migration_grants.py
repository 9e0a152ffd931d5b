"""The migration's literal GRANT statements say exactly what the identity contract says.

A cheap early check of drift (no server): the real one is the integration privilege matrix,
which asks Postgres what each Vault-issued role can do.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from orders import identities
from orders.db.migrate import MIGRATIONS_DIR
from orders.db.schema import metadata
from orders.identities import Privilege

GRANT = re.compile(
    r"^GRANT (?P<privileges>.+?) ON TABLE (?P<schema>[a-z_]+)\.(?P<table>[a-z_]+) "
    r"TO (?P<grantee>[a-z_]+)$"
)
PRIVILEGE = re.compile(r"^(?P<privilege>[A-Z]+)(?: \((?P<columns>[a-z_, ]+)\))?$")

# role -> table -> privilege -> columns (None = the whole table)
Grants = dict[str, dict[str, dict[Privilege, frozenset[str] | None]]]


def _migration(name: str) -> ModuleType:
    path = MIGRATIONS_DIR / "versions" / name
    spec = importlib.util.spec_from_file_location(f"migration_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _split_privileges(text: str) -> list[str]:
    """Split ``SELECT (a, b), UPDATE`` at the commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return parts


def parse(statements: tuple[str, ...]) -> Grants:
    """Parse the migration's GRANT statements; anything unexpected fails the test."""
    grants: Grants = {}
    for statement in statements:
        match = GRANT.match(statement)
        assert match, f"not a plain table GRANT: {statement}"
        assert match["schema"] == identities.DB_SCHEMA
        table = grants.setdefault(match["grantee"], {}).setdefault(match["table"], {})
        for part in _split_privileges(match["privileges"]):
            priv = PRIVILEGE.match(part)
            assert priv, f"cannot parse privilege {part!r} in: {statement}"
            privilege = Privilege(priv["privilege"])
            cols = priv["columns"]
            assert privilege not in table, f"{privilege} granted twice: {statement}"
            table[privilege] = (
                frozenset(c.strip() for c in cols.split(",")) if cols is not None else None
            )
    return grants


def from_contract() -> Grants:
    """The same structure from orders.identities."""
    grants: Grants = {}
    for ident in identities.db_identities():
        if ident.owns_schema:
            continue
        for g in ident.grants:
            table = grants.setdefault(ident.db_group, {}).setdefault(g.table, {})
            for privilege in g.privileges:
                table[privilege] = None
            for privilege, cols in g.columns:
                table[privilege] = frozenset(cols)
    return grants


def _granting_migrations() -> list[ModuleType]:
    """Every migration that grants (``orders new activity`` adds one per identity)."""
    modules = [_migration(p.name) for p in sorted((MIGRATIONS_DIR / "versions").glob("*.py"))]
    return [m for m in modules if hasattr(m, "GRANTS")]


@pytest.fixture(scope="module")
def initial() -> ModuleType:
    return _migration("0001_initial.py")


@pytest.fixture(scope="module")
def all_grants() -> tuple[str, ...]:
    """The GRANT statements of every migration, in file order."""
    return tuple(s for m in _granting_migrations() for s in m.GRANTS)


def test_migration_grants_equal_contract(all_grants: tuple[str, ...]) -> None:
    assert parse(all_grants) == from_contract()


@pytest.mark.parametrize("migration", _granting_migrations(), ids=lambda m: m.revision)
def test_every_statement_in_the_file_is_in_grants(migration: ModuleType) -> None:
    # Guards against a GRANT executed in upgrade() but missing from the checked tuple.
    source = Path(migration.__file__ or "").read_text()
    literal = re.findall(r'"(GRANT [^"]+)"', source)
    assert tuple(literal) == migration.GRANTS
    assert "op.execute(statement)" in source
    assert "REVOKE" not in source


def test_no_dangerous_privilege_anywhere(all_grants: tuple[str, ...]) -> None:
    for statement in all_grants:
        for word in ("DELETE", "TRUNCATE", "CREATE", "ALL", "REFERENCES", "TRIGGER", "OPTION"):
            assert word not in statement.upper().split(), statement


def test_grantees_are_activity_groups_only(all_grants: tuple[str, ...]) -> None:
    groups = {
        i.db_group for i in identities.ALL if i.kind is identities.Kind.ACTIVITY and i.has_db_role
    }
    assert set(parse(all_grants)) == groups


def test_granted_columns_exist(all_grants: tuple[str, ...]) -> None:
    for tables in parse(all_grants).values():
        for table, privileges in tables.items():
            assert table in identities.TABLES
            columns = set(metadata.tables[f"{identities.DB_SCHEMA}.{table}"].columns.keys())
            for cols in privileges.values():
                assert cols is None or cols <= columns, (table, cols)


def test_parser_rejects_what_it_does_not_understand() -> None:
    with pytest.raises(AssertionError):
        parse(("GRANT SELECT ON ALL TABLES IN SCHEMA orders TO grp_order_validate",))
    assert parse(("GRANT SELECT (a, b), UPDATE ON TABLE orders.t TO grp_x",)) == {
        "grp_x": {"t": {Privilege.SELECT: frozenset({"a", "b"}), Privilege.UPDATE: None}}
    }


def test_seed_has_the_scenario_skus(initial: ModuleType) -> None:
    seed = initial.SEED_INVENTORY
    assert len(seed) >= 5
    assert any(row["available"] == 0 and row["sku"] == "SKU-SOLDOUT" for row in seed)
    assert any(int(row["price_cents"]) > 100_000 for row in seed)
    for row in seed:
        assert re.match(r"^[A-Z0-9][A-Z0-9-]{1,31}$", str(row["sku"]))


def test_schema_tables_are_the_contract_tables() -> None:
    assert {t.name for t in metadata.tables.values()} == set(identities.TABLES)
    assert {t.schema for t in metadata.tables.values()} == {identities.DB_SCHEMA}
