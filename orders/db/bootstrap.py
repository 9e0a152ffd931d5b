"""One-time (idempotent) database setup, run by the dev stack as the Postgres superuser.

It creates what must exist before Vault and the migrations can work: the database, one
NOLOGIN group role per database identity, the schema owned by the migrate identity's group,
and the role Vault's database plugin logs in as. PUBLIC loses its default CONNECT and TEMP
on the application database (the groups and Vault's admin role get CONNECT back) and on
``postgres`` and ``template1`` (nobody but the superuser gets them back). Everything else
(tables, grants, seed data) is the migrations' job, done as the migrate identity.

The Vault admin role may create roles and hand out membership of the groups, but holds
none of their privileges itself: ``INHERIT FALSE, SET FALSE`` on every membership.

The evidence role (``identities.DB_EVIDENCE_ROLE``) is what the demo reads its evidence as
where it gets no superuser (kind): CONNECT and schema USAGE here, column SELECTs from the
migrations (``0004``), a login only when given a password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import stringprep
import unicodedata
from typing import Final

import asyncpg
import structlog
from sqlalchemy.engine import make_url

from orders.contract import identities

log = structlog.get_logger(__name__)

MAINTENANCE_DB: Final = "postgres"
CLOSED_DATABASES: Final = (MAINTENANCE_DB, "template1")
"""Databases of the cluster no application role needs: PUBLIC loses CONNECT and TEMP there.

Postgres grants both on every database to PUBLIC; only the superuser (this bootstrap)
connects to these two. ``CREATE DATABASE`` copies template1 without connecting to it (and
gives the copy the default ACL, not template1's). ``template0`` accepts no connections.
"""
SCRAM_ITERATIONS: Final = 4096
"""Iteration count Postgres itself uses by default (``scram_iterations``)."""


def quote_ident(name: str) -> str:
    """Quote an SQL identifier the way Postgres' ``quote_ident`` does, always.

    Args:
        name: Identifier; must not contain NUL.

    Returns:
        The identifier in double quotes with embedded quotes doubled.
    """
    if "\x00" in name:
        raise ValueError("identifier contains NUL")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Quote a string literal (standard_conforming_strings is on in every supported Postgres).

    Args:
        value: Text; must not contain NUL.

    Returns:
        The value in single quotes with embedded quotes doubled.
    """
    if "\x00" in value:
        raise ValueError("literal contains NUL")
    return "'" + value.replace("'", "''") + "'"


def asyncpg_dsn(dsn: str) -> str:
    """Turn an SQLAlchemy-style URL (``postgresql+asyncpg://``) into one asyncpg accepts."""
    url = make_url(dsn)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _saslprep(password: str) -> str | None:
    """RFC 4013 SASLprep, or None where Postgres would fall back to the raw bytes."""
    mapped = "".join(
        " " if stringprep.in_table_c12(c) else c for c in password if not stringprep.in_table_b1(c)
    )
    normalized = unicodedata.normalize("NFKC", mapped)
    if not normalized:
        return None
    prohibited = (
        stringprep.in_table_c12,
        stringprep.in_table_c21_c22,
        stringprep.in_table_c3,
        stringprep.in_table_c4,
        stringprep.in_table_c5,
        stringprep.in_table_c6,
        stringprep.in_table_c7,
        stringprep.in_table_c8,
        stringprep.in_table_c9,
        stringprep.in_table_a1,
    )
    if any(check(c) for c in normalized for check in prohibited):
        return None
    if any(stringprep.in_table_d1(c) for c in normalized):
        # Bidirectional text: RandALCat only, starting and ending with one.
        if any(stringprep.in_table_d2(c) for c in normalized):
            return None
        if not (stringprep.in_table_d1(normalized[0]) and stringprep.in_table_d1(normalized[-1])):
            return None
    return normalized


def scram_sha256_verifier(
    password: str, *, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS
) -> str:
    """Compute the SCRAM-SHA-256 verifier Postgres stores for ``password``.

    Sending the verifier instead of the password keeps the cleartext out of the server's
    statement log and ``pg_stat_activity`` (as psql's password command does).

    Args:
        password: The cleartext password.
        salt: 16 random bytes unless given (tests pin it).
        iterations: PBKDF2 iteration count.

    Returns:
        ``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``.
    """
    prepared = _saslprep(password)
    # Postgres uses the unnormalised bytes whenever SASLprep is not applicable.
    secret = (prepared if prepared is not None else password).encode()
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", secret, salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


async def _role_exists(conn: asyncpg.Connection, name: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1", name))


async def _ensure_role(conn: asyncpg.Connection, name: str, attributes: str) -> None:
    """Create ``name`` with ``attributes``, or bring an existing role to them."""
    if not await _role_exists(conn, name):
        try:
            await conn.execute(f"CREATE ROLE {quote_ident(name)} WITH {attributes}")
            return
        except asyncpg.DuplicateObjectError:
            pass  # a concurrent bootstrap won the race; align its attributes below
    await conn.execute(f"ALTER ROLE {quote_ident(name)} WITH {attributes}")


async def _ensure_database(conn: asyncpg.Connection) -> None:
    exists = await conn.fetchval(
        "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1", identities.DB_NAME
    )
    if exists:
        return
    try:
        await conn.execute(f"CREATE DATABASE {quote_ident(identities.DB_NAME)} ENCODING 'UTF8'")
    except asyncpg.DuplicateDatabaseError:
        pass
    else:
        log.info("database created", database=identities.DB_NAME)


EVIDENCE_ATTRIBUTES: Final = (
    "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT CONNECTION LIMIT 4"
)
"""The evidence role: nothing but what is granted to it by name (NOINHERIT: no group's)."""


async def role_exists(admin_dsn: str, name: str) -> bool:
    """Whether the role ``name`` exists (connects to the maintenance database).

    Args:
        admin_dsn: DSN of a role that may read ``pg_roles`` (anyone may).
        name: Role name.
    """
    conn = await asyncpg.connect(asyncpg_dsn(admin_dsn), database=MAINTENANCE_DB)
    try:
        return await _role_exists(conn, name)
    finally:
        await conn.close()


async def _ensure_evidence_role(conn: asyncpg.Connection, password: str | None) -> None:
    """The evidence role: a login with ``password`` if given, else as it is (NOLOGIN if new)."""
    options = EVIDENCE_ATTRIBUTES
    if password is not None:
        options += f" LOGIN PASSWORD {quote_literal(scram_sha256_verifier(password))}"
    await _ensure_role(conn, identities.DB_EVIDENCE_ROLE, options)


async def bootstrap(
    admin_dsn: str, vault_admin_password: str | None, evidence_password: str | None = None
) -> None:
    """Create the database, group roles, schema and Vault's admin role; safe to re-run.

    Args:
        admin_dsn: DSN of a Postgres superuser (any database; ``postgres`` is used first,
            then the application database). ``postgresql+asyncpg://`` URLs are accepted.
        vault_admin_password: Password Vault's database plugin logs in with as
            ``VAULT_DB_ADMIN_ROLE``, stored as SCRAM. None keeps the current one: once Vault
            has rotated it, only Vault knows it and re-running must not undo that.
        evidence_password: Makes ``identities.DB_EVIDENCE_ROLE`` a login with this password
            (stored as SCRAM). None leaves it as it is (created NOLOGIN).

    Raises:
        ValueError: If the admin role does not exist yet and no password is given.
    """
    dsn = asyncpg_dsn(admin_dsn)
    db = quote_ident(identities.DB_NAME)
    schema = quote_ident(identities.DB_SCHEMA)
    admin = quote_ident(identities.VAULT_DB_ADMIN_ROLE)
    groups = [i.db_group for i in identities.db_identities()]
    owner = quote_ident(identities.ORDER_MIGRATE.db_group)
    evidence = quote_ident(identities.DB_EVIDENCE_ROLE)

    conn = await asyncpg.connect(dsn, database=MAINTENANCE_DB)
    try:
        await _ensure_database(conn)
        for name in CLOSED_DATABASES:
            if await conn.fetchval("SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1", name):
                await conn.execute(f"REVOKE ALL ON DATABASE {quote_ident(name)} FROM PUBLIC")
        # Nobody connects or creates temp tables unless granted below.
        await conn.execute(f"REVOKE ALL ON DATABASE {db} FROM PUBLIC")
        for group in groups:
            await _ensure_role(
                conn, group, "NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION"
            )
            await conn.execute(f"GRANT CONNECT ON DATABASE {db} TO {quote_ident(group)}")
        options = "LOGIN CREATEROLE NOSUPERUSER NOCREATEDB NOREPLICATION NOBYPASSRLS"
        if vault_admin_password is not None:
            verifier = scram_sha256_verifier(vault_admin_password)
            options += f" PASSWORD {quote_literal(verifier)}"
        elif not await conn.fetchval(
            "SELECT 1 FROM pg_roles WHERE rolname = $1", identities.VAULT_DB_ADMIN_ROLE
        ):
            raise ValueError(f"{identities.VAULT_DB_ADMIN_ROLE} does not exist: give a password")
        await _ensure_role(conn, identities.VAULT_DB_ADMIN_ROLE, options)
        await conn.execute(f"GRANT CONNECT ON DATABASE {db} TO {admin}")
        # Vault's revocation statement terminates the dynamic role's sessions before DROP.
        await conn.execute(f"GRANT pg_signal_backend TO {admin}")
        for group in groups:
            await conn.execute(
                f"GRANT {quote_ident(group)} TO {admin} WITH ADMIN TRUE, INHERIT FALSE, SET FALSE"
            )
        await _ensure_evidence_role(conn, evidence_password)
        await conn.execute(f"GRANT CONNECT ON DATABASE {db} TO {evidence}")
        await conn.execute(f"ALTER DATABASE {db} SET search_path = {schema}")
    finally:
        await conn.close()

    conn = await asyncpg.connect(dsn, database=identities.DB_NAME)
    try:
        # Postgres >= 15 already denies this; older templates did not.
        await conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {owner}")
        await conn.execute(f"ALTER SCHEMA {schema} OWNER TO {owner}")
        for role in (*map(quote_ident, groups), evidence):
            await conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
    finally:
        await conn.close()
    log.info("database bootstrapped", database=identities.DB_NAME, groups=len(groups))
