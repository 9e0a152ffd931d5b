"""The local Kubernetes identity endpoint as a supervised process."""

from __future__ import annotations

import sys
from pathlib import Path

from orders.devstack.procs import Proc
from orders.devstack.servers.base import HOST, Ready, http_ok
from orders.devstack.state import StackPaths


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
