"""``python -m orders.devstack.identity_endpoint``: serve the API over TLS on loopback."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import socket
from collections.abc import Sequence
from pathlib import Path

import structlog
import uvicorn

from orders import logging as olog
from orders.devstack.identity_endpoint.api import (
    DEFAULT_MAX_TOKEN_SECONDS,
    DEFAULT_MIN_TOKEN_SECONDS,
    MIN_TOKEN_SECONDS_FLOOR,
    build_app,
)
from orders.devstack.identity_endpoint.state import IdentityState
from orders.files import write_private

log = structlog.get_logger("orders.devstack.identity_endpoint")


def issuer_url(host: str, port: int) -> str:
    """Issuer URL for a listening address (IPv6 literals in brackets)."""
    try:
        is_v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_v6 = False
    return f"https://[{host}]:{port}" if is_v6 else f"https://{host}:{port}"


def _is_loopback(value: str) -> bool:
    if value == "localhost":
        return True
    try:
        return ipaddress.ip_address(value).is_loopback
    except ValueError:
        return False


def _token_seconds(value: str) -> int:
    seconds = int(value)
    if seconds < MIN_TOKEN_SECONDS_FLOOR:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_TOKEN_SECONDS_FLOOR}")
    return seconds


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m orders.devstack.identity_endpoint",
        description="Local Kubernetes identity endpoint (TokenRequest, TokenReview, OIDC).",
    )
    parser.add_argument("--state-dir", type=Path, required=True, help="keys, certs, creds")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind: loopback unless --server-name"
    )
    parser.add_argument(
        "--server-name",
        help="DNS name it is reached by on a private network (docker-compose's service "
        "alias): certified, and the issuer's host",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="TCP port; 0 picks a free one (see DIR/ready)"
    )
    parser.add_argument(
        "--min-token-seconds", type=_token_seconds, default=DEFAULT_MIN_TOKEN_SECONDS
    )
    parser.add_argument(
        "--max-token-seconds", type=_token_seconds, default=DEFAULT_MAX_TOKEN_SECONDS
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument(
        "--tls-cert", type=Path, help="server certificate chain (default: from own CA)"
    )
    parser.add_argument("--tls-key", type=Path, help="its key (with --tls-cert)")
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    # The dev stack's endpoint is reached on loopback only; only a deployment that names
    # it (and so certifies that name) may bind a network address.
    if args.server_name is None and not _is_loopback(args.host):
        parser.error(f"--host {args.host!r} is not a loopback address (give --server-name)")
    if args.max_token_seconds < args.min_token_seconds:
        parser.error("--max-token-seconds must not be below --min-token-seconds")
    return args


def _bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket before the issuer URL is fixed, so port 0 works."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if host == "localhost":
        host, family = "127.0.0.1", socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn server that announces readiness only once its socket is serving."""

    def __init__(self, config: uvicorn.Config, state: IdentityState) -> None:
        super().__init__(config)
        self._state = state

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start serving, then write the ready file a supervisor waits for."""
        await super().startup(sockets=sockets)
        if not self.started or not sockets:
            return
        info = {
            "issuer": self._state.issuer,
            "port": sockets[0].getsockname()[1],
            "pid": os.getpid(),
            "ca_cert": str(self._state.ca_cert_file),
        }
        write_private(self._state.ready_file, json.dumps(info).encode() + b"\n")
        log.info("ready", issuer=self._state.issuer, ready_file=str(self._state.ready_file))

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Withdraw the ready file first: uvicorn re-raises SIGTERM after serving."""
        self._state.ready_file.unlink(missing_ok=True)
        await super().shutdown(sockets=sockets)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the endpoint until SIGINT/SIGTERM.

    Args:
        argv: Command-line arguments (defaults to ``sys.argv[1:]``).

    Returns:
        Process exit status.
    """
    args = _parse_args(argv)
    olog.configure("identity-endpoint", args.log_level)
    sock = _bind(args.host, args.port)
    issuer = issuer_url(args.server_name or args.host, sock.getsockname()[1])
    state = IdentityState.load_or_create(args.state_dir, issuer, server_name=args.server_name)
    app = build_app(
        state,
        min_token_seconds=args.min_token_seconds,
        max_token_seconds=args.max_token_seconds,
    )
    config = uvicorn.Config(
        app,
        ssl_certfile=str(args.tls_cert or state.server_cert_file),
        ssl_keyfile=str(args.tls_key or state.server_key_file),
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
        log_level=args.log_level,
    )
    server = _Server(config, state)
    # A ready file left by a crashed run must not make a supervisor connect too early.
    state.ready_file.unlink(missing_ok=True)
    try:
        asyncio.run(server.serve(sockets=[sock]))
    finally:
        state.ready_file.unlink(missing_ok=True)
        sock.close()
    return 0
