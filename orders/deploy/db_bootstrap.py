"""The Postgres pod's ``db-bootstrap`` container (kind): the database bootstrap over the socket.

``python -m orders.deploy.db_bootstrap --socket-dir DIR --superuser-password-file F ...``

The superuser ``postgres`` logs in only over the server's Unix socket (``pg_hba.conf`` has
no TCP line that admits it), and a socket is not shared across pods: so the bootstrap
(:func:`orders.db.bootstrap.bootstrap`, what compose's ``setup`` step runs over its shared
socket volume) runs in a second container of the Postgres pod, which mounts the socket
directory read-only (connecting to a socket needs no write access to its file system).

It waits for the server (the socket appears, the entrypoint's temporary first-start server
goes away), then bootstraps, retrying until ``--timeout``; Vault's admin role gets the
password from ``--vault-admin-password-file`` only when that role does not exist yet (once
Vault has rotated it, only Vault knows it); the evidence role gets
``--evidence-password-file`` every time (the demo reads it from the same Secret). Then it
writes ``--ready-file`` (its readiness probe, so the pod and its Service are ready only once
the roles exist) and idles until SIGTERM or SIGINT. Passwords come from files, never argv.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Final
from urllib.parse import quote

import asyncpg
import structlog

from orders import logging as olog
from orders.contract import identities
from orders.db.bootstrap import MAINTENANCE_DB, bootstrap, role_exists

log = structlog.get_logger(__name__)

STOP: Final = frozenset({signal.SIGTERM, signal.SIGINT})
RETRY_SECONDS: Final = 1.0
TRANSIENT: Final = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
"""Errors of a server that is not up yet (no socket, starting, restarting after initdb)."""


def socket_dsn(socket_dir: str, password: str, port: int = 5432) -> str:
    """The superuser's DSN over the Unix socket in ``socket_dir`` (password URL-quoted).

    ``port`` names the socket file (``.s.PGSQL.<port>``), as for a TCP server.
    """
    return (
        f"postgresql://postgres:{quote(password, safe='')}@/{MAINTENANCE_DB}"
        f"?host={socket_dir}&port={port}"
    )


async def bootstrap_once(
    dsn: str, vault_admin_password: str, evidence_password: str | None
) -> bool:
    """One bootstrap; returns whether it set Vault's admin password (the role was new)."""
    fresh = not await role_exists(dsn, identities.VAULT_DB_ADMIN_ROLE)
    await bootstrap(dsn, vault_admin_password if fresh else None, evidence_password)
    return fresh


def wait_for_service(host: str, port: int, timeout: float) -> None:
    """Wait until ``host:port`` accepts a TCP connection (no credential needed).

    The Postgres Service has an endpoint only once its pod is ready, and the pod is ready
    only once this container has bootstrapped (its readiness probe): so a connection there
    means the roles exist. Before that the ClusterIP refuses connections at once.

    Raises:
        TimeoutError: If nothing accepts within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=5).close()
            return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise TimeoutError(f"Postgres at {host}:{port} not ready: {exc}") from exc
            time.sleep(RETRY_SECONDS)


def run(args: argparse.Namespace) -> int:
    """Bootstrap (retrying), mark ready, idle until told to stop; the exit status."""
    # Blocked, so a stop request waits in sigtimedwait (the retry pause) and sigwait.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP)
    password = args.superuser_password_file.read_text().strip()
    dsn = socket_dsn(args.socket_dir, password, args.port)
    vault_admin = args.vault_admin_password_file.read_text().strip()
    evidence_file: Path | None = args.evidence_password_file
    evidence = evidence_file.read_text().strip() if evidence_file else None
    deadline = time.monotonic() + args.timeout
    while True:
        try:
            fresh = asyncio.run(bootstrap_once(dsn, vault_admin, evidence))
            break
        except TRANSIENT as exc:
            if time.monotonic() > deadline:
                # The type only: a driver message could quote the DSN.
                log.error(
                    "db_bootstrap.gave_up", socket_dir=args.socket_dir, error=type(exc).__name__
                )
                print(
                    f"db-bootstrap: Postgres at socket {args.socket_dir} not bootstrapped "
                    f"within {args.timeout:.0f}s ({type(exc).__name__})",
                    file=sys.stderr,
                )
                return 1
            log.info("db_bootstrap.waiting", error=type(exc).__name__)
        if signal.sigtimedwait(STOP, RETRY_SECONDS) is not None:
            return 0
    log.info("db_bootstrap.done", vault_admin_password_set=fresh, evidence_login=bool(evidence))
    args.ready_file.parent.mkdir(parents=True, exist_ok=True)
    args.ready_file.write_text("ready\n")
    signal.sigwait(STOP)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and :func:`run`."""
    ap = argparse.ArgumentParser(prog="python -m orders.deploy.db_bootstrap", description=__doc__)
    ap.add_argument("--socket-dir", required=True, help="the server's Unix socket directory")
    ap.add_argument("--port", type=int, default=5432, help="the server's port (socket name)")
    ap.add_argument("--superuser-password-file", type=Path, required=True)
    ap.add_argument("--vault-admin-password-file", type=Path, required=True)
    ap.add_argument("--evidence-password-file", type=Path, help="makes the evidence role a login")
    ap.add_argument("--ready-file", type=Path, required=True, help="written once bootstrapped")
    ap.add_argument("--timeout", type=float, default=600, help="give up after (seconds)")
    args = ap.parse_args(argv)
    olog.configure("db-bootstrap")
    for name in ("superuser_password_file", "vault_admin_password_file", "evidence_password_file"):
        path: Path | None = getattr(args, name)
        if path is not None and not path.is_file():
            print(f"db-bootstrap: --{name.replace('_', '-')}: no file {path}", file=sys.stderr)
            return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
