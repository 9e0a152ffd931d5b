"""``--tables``: parsed against the real schema; the contract's standing rules refused."""

from __future__ import annotations

import pytest

from orders.contract.identities import Privilege, TableGrant, grant
from orders.scaffold.tables import TablesError, grant_source, grant_statements, parse_tables


def test_table_and_column_privileges() -> None:
    grants = parse_tables("orders:SELECT(id,status);notifications:select, INSERT")
    assert grants == (
        TableGrant("orders", frozenset(), ((Privilege.SELECT, ("id", "status")),)),
        TableGrant("notifications", frozenset({Privilege.SELECT, Privilege.INSERT})),
    )
    assert grant_statements("grp_x", grants) == (
        "GRANT SELECT (id, status) ON TABLE orders.orders TO grp_x",
        "GRANT SELECT, INSERT ON TABLE orders.notifications TO grp_x",
    )


def test_source_rebuilds_the_same_grant() -> None:
    for g in parse_tables("orders:SELECT(id);reservations:SELECT,UPDATE(status,quantity)"):
        assert eval(grant_source(g), {"grant": grant, "Privilege": Privilege}) == g  # noqa: S307


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nope:SELECT", "unknown table 'nope'"),
        ("orders:SELECT(idx)", "table 'orders' has no column 'idx'"),
        ("orders:FROB", "unknown privilege 'FROB'"),
        ("shipments:DELETE", "DELETE is never granted"),
        ("shipments:TRUNCATE", "TRUNCATE is never granted"),
        ("payments:SELECT", "only the payment identities"),
        ("inventory:SELECT,UPDATE(reserved)", "only reserve/release"),
        ("orders:SELECT", "'customer_email' holds a sealed field"),
        ("orders:SELECT(id,shipping_address)", "'shipping_address' holds a sealed field"),
        ("orders:UPDATE(customer_email)", "'customer_email' holds a sealed field"),
        ("orders", "expected table:PRIVILEGES"),
        ("orders:", "no privileges given"),
        ("orders:SELECT(id,id)", "listed twice"),
        ("shipments:SELECT;shipments:INSERT", "table 'shipments' is listed twice"),
        ("shipments:SELECT,SELECT", "SELECT given twice"),
        ("orders:SELECT(id))", "cannot parse"),
        (" ; ", "--tables is empty"),
    ],
)
def test_refusals_name_the_culprit(spec: str, message: str) -> None:
    with pytest.raises(TablesError, match=message.replace("(", r"\(")):
        parse_tables(spec)


def test_inserting_a_sealed_column_is_allowed() -> None:
    # Writing ciphertext reveals nothing (order-validate inserts whole orders).
    (g,) = parse_tables("orders:INSERT")
    assert g.allows(Privilege.INSERT, "customer_email")
