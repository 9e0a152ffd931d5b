"""``--tables`` of ``orders new activity``: parsed, checked against the real schema.

Syntax: ``table:PRIV,PRIV(col,col);other:PRIV`` — privileges ``SELECT``, ``INSERT`` and
``UPDATE``, table-wide or on listed columns. Tables and columns are checked against the
SQLAlchemy schema (:mod:`orders.db.schema`, which a unit test keeps equal to the
migrations), and against the contract's standing rules, so a scaffolded identity can never
be granted what the project's invariants forbid:

* nobody DELETEs or TRUNCATEs;
* only the payment identities touch ``payments``;
* only reserve/release update ``inventory``;
* a sealed column (``orders.customer_email`` …) is read by its consumer only, so a new
  identity never gets it, nor a table-wide SELECT on a table that holds one.
"""

from __future__ import annotations

import re
from typing import Final

from orders.contract import identities, transit_names
from orders.contract.identities import Privilege, TableGrant
from orders.db.schema import metadata

GRANTABLE: Final = (Privilege.SELECT, Privilege.INSERT, Privilege.UPDATE)
PAYMENTS: Final = "payments"
INVENTORY: Final = "inventory"
_ITEM: Final = re.compile(r"\s*([A-Za-z]+)\s*(?:\(([^()]*)\))?\s*(?:,|$)")


class TablesError(ValueError):
    """A ``--tables`` value that cannot be granted; the message names the culprit."""


def schema_columns() -> dict[str, tuple[str, ...]]:
    """Table -> its columns, from the SQLAlchemy schema of the application."""
    return {t.name: tuple(t.columns.keys()) for t in metadata.tables.values()}


def sealed_columns() -> dict[str, set[str]]:
    """Table -> columns that hold a sealed need-to-know field (never granted by scaffold)."""
    cols = schema_columns()
    sealed: dict[str, set[str]] = {}
    for s in transit_names.SEALED_FIELDS:
        for table, columns in cols.items():
            if s.field in columns:
                sealed.setdefault(table, set()).add(s.field)
    return sealed


def _privileges(table: str, text: str) -> TableGrant:
    columns = schema_columns()[table]
    whole: set[Privilege] = set()
    per_column: dict[Privilege, tuple[str, ...]] = {}
    pos = 0
    text = text.strip()
    if not text:
        raise TablesError(f"table {table!r}: no privileges given (e.g. {table}:SELECT)")
    while pos < len(text):
        match = _ITEM.match(text, pos)
        if match is None or match.end() == pos:
            raise TablesError(f"table {table!r}: cannot parse privileges {text!r}")
        pos = match.end()
        word, cols = match.group(1).upper(), match.group(2)
        try:
            privilege = Privilege(word)
        except ValueError:
            raise TablesError(
                f"table {table!r}: unknown privilege {match.group(1)!r}; use {', '.join(GRANTABLE)}"
            ) from None
        if privilege not in GRANTABLE:
            raise TablesError(
                f"table {table!r}: {privilege} is never granted in this project "
                f"(use {', '.join(GRANTABLE)})"
            )
        if privilege in whole or privilege in per_column:
            raise TablesError(f"table {table!r}: {privilege} given twice")
        if cols is None:
            whole.add(privilege)
            continue
        names = tuple(c.strip() for c in cols.split(","))
        if not all(names):
            raise TablesError(f"table {table!r}: empty column name in {privilege}({cols})")
        for name in names:
            if name not in columns:
                raise TablesError(
                    f"table {table!r} has no column {name!r}; its columns: {', '.join(columns)}"
                )
        if len(set(names)) != len(names):
            raise TablesError(f"table {table!r}: a column is listed twice in {privilege}({cols})")
        per_column[privilege] = names
    return TableGrant(
        table=table,
        privileges=frozenset(whole),
        columns=tuple((p, per_column[p]) for p in GRANTABLE if p in per_column),
    )


def _check_invariants(grant: TableGrant) -> None:
    if grant.table == PAYMENTS:
        raise TablesError(
            f"table {PAYMENTS!r}: only the payment identities may touch it (contract rule)"
        )
    if grant.table == INVENTORY and grant.allows(Privilege.UPDATE):
        raise TablesError(
            f"table {INVENTORY!r}: only reserve/release inventory may UPDATE it (contract rule)"
        )
    for column in sorted(sealed_columns().get(grant.table, set())):
        # Writing a sealed value reveals nothing; reading or rewriting it does.
        for privilege in (Privilege.SELECT, Privilege.UPDATE):
            if grant.allows(privilege, column):
                hint = (
                    f" (a table-wide {privilege} includes it: list the columns you need)"
                    if privilege in grant.privileges
                    else ""
                )
                raise TablesError(
                    f"table {grant.table!r}: column {column!r} holds a sealed field that only "
                    f"its consumer may {privilege}{hint}"
                )


def parse_tables(spec: str) -> tuple[TableGrant, ...]:
    """Parse and check a ``--tables`` value.

    Args:
        spec: ``"table:SELECT,INSERT;other:SELECT(col1,col2)"``.

    Returns:
        One grant per table, in the order given.

    Raises:
        TablesError: Naming the bad table, column or privilege.
    """
    known = schema_columns()
    grants: list[TableGrant] = []
    for part in spec.split(";"):
        if not part.strip():
            continue
        table, sep, privileges = part.partition(":")
        table = table.strip()
        if not sep:
            raise TablesError(f"{part.strip()!r}: expected table:PRIVILEGES")
        if table not in known:
            raise TablesError(f"unknown table {table!r}; tables: {', '.join(known)}")
        if any(g.table == table for g in grants):
            raise TablesError(f"table {table!r} is listed twice")
        grant = _privileges(table, privileges)
        _check_invariants(grant)
        grants.append(grant)
    if not grants:
        raise TablesError("--tables is empty: give at least one table:PRIVILEGES")
    return tuple(grants)


def grant_statements(group: str, grants: tuple[TableGrant, ...]) -> tuple[str, ...]:
    """Literal ``GRANT`` statements for ``group`` (the migration's form, one per clause).

    Table-wide privileges come in one statement, column privileges in one statement each,
    as in the initial migration.
    """
    statements: list[str] = []
    for g in grants:
        target = f"ON TABLE {identities.DB_SCHEMA}.{g.table} TO {group}"
        whole = [p for p in GRANTABLE if p in g.privileges]
        if whole:
            statements.append(f"GRANT {', '.join(whole)} {target}")
        for privilege, cols in g.columns:
            statements.append(f"GRANT {privilege} ({', '.join(cols)}) {target}")
    return tuple(statements)


def grant_source(grant: TableGrant) -> str:
    """The ``grant(...)`` call that states ``grant`` in orders/contract/identities.py."""

    def strings(names: tuple[str, ...]) -> str:
        quoted = [f'"{n}"' for n in names]
        return f"({quoted[0]},)" if len(quoted) == 1 else f"({', '.join(quoted)})"

    args = [f'"{grant.table}"']
    args += [f"Privilege.{p}" for p in GRANTABLE if p in grant.privileges]
    args += [f"{p}={strings(cols)}" for p, cols in grant.columns]
    return f"grant({', '.join(args)})"
