"""The migration's literal GRANT statements say exactly what the identity contract says.

A cheap early check of drift (no server): the real one is the integration privilege matrix,
which asks Postgres what each Vault-issued role can do.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import ModuleType

import pytest

from orders.contract import identities
from orders.contract.identities import Privilege
from orders.db.migrate import MIGRATIONS_DIR
from orders.db.schema import metadata
from tests.support.migrations import load_migration

GRANT = re.compile(
    r"^GRANT (?P<privileges>.+?) ON TABLE (?P<schema>[a-z_]+)\.(?P<table>[a-z_]+) "
    r"TO (?P<grantee>[a-z_]+)$"
)
REVOKE = re.compile(
    r"^REVOKE (?P<privileges>[A-Z, ]+) ON TABLE (?P<schema>[a-z_]+)\.(?P<table>[a-z_]+) "
    r"FROM (?P<grantee>[a-z_]+)$"
)
"""Only table-wide REVOKEs: a migration narrows a grant by revoking it and granting columns."""
PRIVILEGE = re.compile(r"^(?P<privilege>[A-Z]+)(?: \((?P<columns>[a-z_, ]+)\))?$")

# role -> table -> privilege -> columns (None = the whole table)
Grants = dict[str, dict[str, dict[Privilege, frozenset[str] | None]]]


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
    """Apply the migrations' GRANT (and REVOKE) statements in order; fail on anything odd.

    As in PostgreSQL, a table-wide REVOKE also removes that privilege's column grants, and
    column grants of one privilege add up. A grant that repeats what is already granted
    (a table-wide privilege, or a column already covered) fails: every statement must
    change something.
    """
    grants: Grants = {}
    for statement in statements:
        revoke = REVOKE.match(statement)
        if revoke:
            assert revoke["schema"] == identities.DB_SCHEMA
            table = grants.get(revoke["grantee"], {}).get(revoke["table"], {})
            for part in _split_privileges(revoke["privileges"]):
                privilege = Privilege(part)
                assert privilege in table, f"{privilege} was never granted: {statement}"
                del table[privilege]
            continue
        match = GRANT.match(statement)
        assert match, f"not a plain table GRANT: {statement}"
        assert match["schema"] == identities.DB_SCHEMA
        table = grants.setdefault(match["grantee"], {}).setdefault(match["table"], {})
        for part in _split_privileges(match["privileges"]):
            priv = PRIVILEGE.match(part)
            assert priv, f"cannot parse privilege {part!r} in: {statement}"
            privilege = Privilege(priv["privilege"])
            cols = priv["columns"]
            if cols is None:
                assert privilege not in table, f"{privilege} granted twice: {statement}"
                table[privilege] = None
                continue
            new = frozenset(c.strip() for c in cols.split(","))
            held = table.get(privilege, frozenset())
            assert held is not None, f"{privilege} already table-wide: {statement}"
            assert not held & new, f"{privilege} granted twice on {held & new}: {statement}"
            table[privilege] = held | new
    return {role: {t: p for t, p in tables.items() if p} for role, tables in grants.items()}


def from_contract() -> Grants:
    """The same structure from orders.contract.identities."""
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
    modules = [load_migration(p.name) for p in sorted((MIGRATIONS_DIR / "versions").glob("*.py"))]
    return [m for m in modules if hasattr(m, "GRANTS")]


def _statements(migration: ModuleType) -> tuple[str, ...]:
    """A migration's REVOKEs (run first, see 0003) then its GRANTs."""
    return (*getattr(migration, "REVOKES", ()), *migration.GRANTS)


def _literals(source: str, verb: str) -> tuple[str, ...]:
    """String literals of ``source`` that start with ``verb`` (adjacent literals joined)."""
    return tuple(
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith(verb + " ")
    )


@pytest.fixture(scope="module")
def initial() -> ModuleType:
    return load_migration("0001_initial.py")


@pytest.fixture(scope="module")
def all_grants() -> tuple[str, ...]:
    """The GRANT and REVOKE statements of every migration, in file order."""
    return tuple(s for m in _granting_migrations() for s in _statements(m))


def test_migration_grants_equal_contract(all_grants: tuple[str, ...]) -> None:
    assert parse(all_grants) == from_contract()


@pytest.mark.parametrize("migration", _granting_migrations(), ids=lambda m: m.revision)
def test_every_statement_in_the_file_is_in_grants(migration: ModuleType) -> None:
    # Guards against a GRANT or REVOKE executed in upgrade() but missing from the checked
    # tuples (only those are compared with the contract).
    source = Path(migration.__file__ or "").read_text()
    assert _literals(source, "GRANT") == migration.GRANTS
    assert _literals(source, "REVOKE") == getattr(migration, "REVOKES", ())
    assert "op.execute(statement)" in source


def test_no_dangerous_privilege_anywhere(all_grants: tuple[str, ...]) -> None:
    for statement in all_grants:
        if statement.startswith("REVOKE "):
            continue
        for word in ("DELETE", "TRUNCATE", "CREATE", "ALL", "REFERENCES", "TRIGGER", "OPTION"):
            assert word not in statement.upper().split(), statement


def test_grantees_are_activity_and_operator_groups_only(all_grants: tuple[str, ...]) -> None:
    grantees = (identities.Kind.ACTIVITY, identities.Kind.OPERATOR)
    groups = {i.db_group for i in identities.ALL if i.kind in grantees and i.has_db_role}
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
    with pytest.raises(AssertionError, match="never granted"):
        parse(("REVOKE UPDATE ON TABLE orders.t FROM grp_x",))
    with pytest.raises(AssertionError, match="granted twice"):
        parse(("GRANT SELECT (a) ON TABLE orders.t TO grp_x",) * 2)


def test_parser_applies_revokes_and_column_grants_in_order() -> None:
    narrowed = parse(
        (
            "GRANT SELECT, UPDATE ON TABLE orders.t TO grp_x",
            "GRANT INSERT (a) ON TABLE orders.t TO grp_x",
            "REVOKE UPDATE ON TABLE orders.t FROM grp_x",
            "GRANT UPDATE (b) ON TABLE orders.t TO grp_x",
            "GRANT INSERT (c) ON TABLE orders.t TO grp_x",
        )
    )
    assert narrowed == {
        "grp_x": {
            "t": {
                Privilege.SELECT: None,
                Privilege.UPDATE: frozenset({"b"}),
                Privilege.INSERT: frozenset({"a", "c"}),
            }
        }
    }
    assert parse(
        ("GRANT SELECT ON TABLE orders.t TO grp_x", "REVOKE SELECT ON TABLE orders.t FROM grp_x")
    ) == {"grp_x": {}}


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
