"""Postgres privilege matrix: what each Vault-issued role can really do, against the contract.

Each database identity logs in to Vault with its own ServiceAccount token, obtains its
dynamic credential and *tries* every operation on every table (and, for SELECT, INSERT and
UPDATE, on every column), each in a rolled-back transaction; Postgres' answer must equal
the contract's. Shared by ``orders verify`` and ``tests/integration/db``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg

from orders.contract import identities
from orders.contract.identities import Identity, Privilege
from orders.db.engine import ssl_context
from orders.db.schema import metadata
from orders.evidence import GROUPS_OF_SQL
from orders.verify import seat
from orders.verify.report import CheckResult, result
from orders.verify.target import PostgresTarget, Target

SCHEMA = identities.DB_SCHEMA


@dataclass(frozen=True)
class Probe:
    """One attempted operation."""

    privilege: Privilege
    table: str
    column: str | None
    sql: str

    def expected(self, identity: Identity) -> bool:
        """Whether the contract lets ``identity`` do it."""
        if identity.owns_schema:
            return True
        grant = identity.grant_for(self.table)
        return grant is not None and grant.allows(self.privilege, self.column)

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        return f"{self.privilege} {where}"


def probes() -> Iterator[Probe]:
    """Every operation the matrix covers, built from the schema itself."""
    for table in metadata.tables.values():
        t = f'{SCHEMA}."{table.name}"'
        for col in table.columns:
            c = f'"{col.name}"'
            yield Probe(Privilege.SELECT, table.name, col.name, f"SELECT {c} FROM {t} WHERE false")
            yield Probe(
                Privilege.INSERT,
                table.name,
                col.name,
                f"INSERT INTO {t} ({c}) SELECT NULL WHERE false",
            )
            yield Probe(
                Privilege.UPDATE, table.name, col.name, f"UPDATE {t} SET {c} = NULL WHERE false"
            )
        yield Probe(Privilege.DELETE, table.name, None, f"DELETE FROM {t} WHERE false")
        yield Probe(Privilege.TRUNCATE, table.name, None, f"TRUNCATE {t}")


class _Rollback(Exception):
    pass


async def allowed(conn: asyncpg.Connection, sql: str) -> bool:
    """Run ``sql`` in a rolled-back transaction; False only for a privilege error."""
    try:
        async with conn.transaction():
            await conn.execute(sql)
            raise _Rollback
    except _Rollback:
        return True
    except asyncpg.exceptions.InsufficientPrivilegeError:
        return False
    except asyncpg.PostgresError:
        # Any other error (e.g. TRUNCATE of a referenced table) comes after the
        # privilege check passed.
        return True


async def matrix_problems(conn: asyncpg.Connection, identity: Identity) -> tuple[list[str], int]:
    """Every probe whose answer differs from the contract, and how many were tried."""
    problems = []
    checked = 0
    for probe in probes():
        got = await allowed(conn, probe.sql)
        checked += 1
        if got != probe.expected(identity):
            problems.append(f"{probe}: postgres={got} contract={probe.expected(identity)}")
    return problems, checked


async def remit_problems(conn: asyncpg.Connection, identity: Identity) -> list[str]:
    """Objects the role may create, alter or drop beyond its remit (schema owner only)."""
    name = f"zz_probe_{identity.name.replace('-', '_')}"
    owner = identity.owns_schema
    attempts = {
        f"CREATE TABLE {SCHEMA}.{name} (id int)": owner,
        f"CREATE TABLE public.{name} (id int)": False,
        f"CREATE TEMP TABLE {name} (id int)": False,
        f"CREATE SCHEMA {name}": False,
        f"CREATE ROLE {name}": False,
        f'ALTER TABLE {SCHEMA}."payments" ADD COLUMN x int': owner,
        f'DROP TABLE {SCHEMA}."notifications"': owner,
    }
    return [
        f"{sql.split(' (')[0]}: postgres={got} contract={want}"
        for sql, want in attempts.items()
        if (got := await allowed(conn, sql)) is not want
    ]


def tls_args(pg: PostgresTarget) -> dict[str, Any]:
    """TLS arguments of ``asyncpg.connect`` (verify-full, direct TLS) when the target names a CA."""
    if pg.ca_file is None:
        return {}
    return {"ssl": ssl_context(pg.ca_file), "direct_tls": True}


async def connect(pg: PostgresTarget, user: str, password: str) -> asyncpg.Connection:
    """A connection to the target's database as ``user``."""
    return await asyncpg.connect(
        host=pg.host, port=pg.port, database=pg.database, user=user, password=password,
        timeout=10, **tls_args(pg),
    )  # fmt: skip


async def identity_problems(target: Target, identity: Identity) -> tuple[list[str], int]:
    """The whole matrix for ``identity``, with its own Vault-issued credential."""
    vault = await asyncio.to_thread(seat.login_as, target, identity)
    try:
        creds = await asyncio.to_thread(
            vault.secrets.database.generate_credentials, identity.db_role
        )
        conn = await connect(target.postgres, creds["data"]["username"], creds["data"]["password"])
        try:
            group = await conn.fetchval(GROUPS_OF_SQL.format(role="current_user"))
            problems = [] if group == identity.db_group else [f"member of {group!r}"]
            matrix, checked = await matrix_problems(conn, identity)
            problems += matrix + await remit_problems(conn, identity)
        finally:
            await conn.close()
    finally:
        # Revoking the token revokes its leases: Vault drops the role.
        await asyncio.to_thread(vault.auth.token.revoke_self)
    return [f"{identity.name}: {p}" for p in problems], checked


async def check(target: Target) -> CheckResult:
    """The privilege matrix of every database identity."""
    started = time.monotonic()
    db_identities = list(identities.db_identities())
    results = await asyncio.gather(*(identity_problems(target, i) for i in db_identities))
    problems = [p for found, _ in results for p in found]
    tried = sum(n for _, n in results)
    return result(
        "postgres-privileges",
        started,
        problems,
        f"{len(db_identities)} roles x {tried // len(db_identities)} operations: as the contract",
    )
