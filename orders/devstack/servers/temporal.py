"""The Temporal dev server in a network namespace of its own, and the bridge into it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Final

import grpc
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

from orders.contract import identities, pki_names
from orders.devstack.procs import Proc
from orders.devstack.servers.base import HOST, Ready, free_port
from orders.devstack.servers.nginx import NGINX_STREAM, nginx_config
from orders.devstack.state import StackPaths
from orders.front.decide import WORKFLOW_SERVICE
from orders.front.server import TlsFiles

UNSHARE: Final = "/usr/bin/unshare"
BRIDGE_DIR: Final = "nginx-bridge"
INTERNODE_CA: Final = "internode-ca.pem"
INTERNODE_CERT: Final = "temporal-internode"
"""``tls/<name>.crt|key``: the frontend's certificate from the internode CA (the bridge's)."""
METRICS_PORT: Final = 9090
"""The dev server's metrics port, on *its* loopback (its own network namespace: always
free). The bridge serves it on ``temporal-metrics.sock``; the UI front on the host."""


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
            str(METRICS_PORT),
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
        options = [("grpc.ssl_target_name_override", pki_names.TEMPORAL_FRONTEND_NAME)]
        async with grpc.aio.secure_channel(f"unix:{socket_path}", creds, options) as channel:
            describe: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                f"/{WORKFLOW_SERVICE}/DescribeNamespace"
            )
            request = DescribeNamespaceRequest(namespace=identities.TEMPORAL_NAMESPACE)
            await describe(request.SerializeToString(), timeout=2)
        return True

    return check


def temporal_bridge(paths: StackPaths, frontend_port: int, ui_port: int) -> Path:
    """Write the bridge's config (run inside the dev server's namespace by its runner).

    ``temporal-frontend.sock``: TLS with the internode certificate (ALPN ``h2``, as gRPC
    requires), a client certificate from the internode CA required, bytes on to the
    frontend. ``temporal-ui.sock``: bytes on to the UI server; ``temporal-metrics.sock``: to
    the server's metrics port (the UI front serves it to Prometheus). The sockets are created by
    the bridge's master (root) and only the owner may connect (``umask`` of the runner).
    """
    cert, key = paths.server_cert(INTERNODE_CERT)
    frontend, ui = bridge_sockets(paths)
    for sock in (frontend, ui, metrics_socket(paths)):
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
  server {{
    listen unix:{metrics_socket(paths)};
    proxy_pass {HOST}:{METRICS_PORT};
  }}
}}
"""
    return nginx_config(paths, "temporal-bridge", BRIDGE_DIR, config, module=NGINX_STREAM)


def bridge_sockets(paths: StackPaths) -> tuple[Path, Path]:
    """The bridge's Unix sockets: (frontend, UI)."""
    return paths.run / "temporal-frontend.sock", paths.run / "temporal-ui.sock"


def metrics_socket(paths: StackPaths) -> Path:
    """The bridge's Unix socket to the dev server's metrics port."""
    return paths.run / "temporal-metrics.sock"
