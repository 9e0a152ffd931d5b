"""Helpers of the generated grant migrations (``orders new activity``)."""

from __future__ import annotations

import re
from typing import Final

from orders.db.bootstrap import quote_literal

_GRANT: Final = re.compile(
    r"^GRANT (?P<what>[A-Z, ()a-z_]+ ON TABLE [a-z_]+\.[a-z_]+) TO (?P<grantee>[a-z_][a-z0-9_]*)$"
)


def require_group(group: str) -> str:
    """SQL that fails the migration, naming the fix, unless the group role ``group`` exists.

    The bootstrap creates group roles (as the superuser); the migrate identity cannot, so a
    missing group means the bootstrap has not run since the identity was added.
    """
    message = f"role {group} does not exist: run the bootstrap (orders dev apply) first"
    return (
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = "
        f"{quote_literal(group)}) THEN RAISE EXCEPTION {quote_literal(message)}; END IF; END $$"
    )


def revoke_of(grant: str) -> str:
    """The ``REVOKE`` undoing one literal ``GRANT … ON TABLE … TO group`` statement.

    Raises:
        ValueError: For anything but that form.
    """
    match = _GRANT.match(grant)
    if match is None:
        raise ValueError(f"not a plain GRANT statement: {grant}")
    return f"REVOKE {match['what']} FROM {match['grantee']}"


_REVOKE: Final = re.compile(
    r"^REVOKE (?P<what>[A-Z, ]+ ON TABLE [a-z_]+\.[a-z_]+) FROM (?P<grantee>[a-z_][a-z0-9_]*)$"
)


def grant_of(revoke: str) -> str:
    """The ``GRANT`` a literal table-wide ``REVOKE … ON TABLE … FROM group`` took away.

    A migration that narrows a table-wide grant to columns revokes the old privilege; its
    downgrade gives it back with this (derived, so the file holds only the new GRANTs).

    Raises:
        ValueError: For anything but that form (column lists included: PostgreSQL's
            table-wide REVOKE also removes column grants, so only that form is undone).
    """
    match = _REVOKE.match(revoke)
    if match is None:
        raise ValueError(f"not a plain table-wide REVOKE statement: {revoke}")
    return f"GRANT {match['what']} TO {match['grantee']}"
