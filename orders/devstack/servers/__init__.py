"""The real servers of the local stack, from wheels and Debian packages, one module each.

Each function prepares a server's state (once) and returns a :class:`Proc` to supervise,
plus an async readiness check. Everything listens on loopback ports chosen at start.

- :mod:`.base`: loopback ports, readiness polling, log tails;
- :mod:`.postgres`: Postgres as its own OS user, and its TLS front;
- :mod:`.openbao`: OpenBao (raft, TLS, audit log), init and unseal;
- :mod:`.identity`: the local Kubernetes identity endpoint;
- :mod:`.temporal`: the Temporal dev server in its own network namespace, and its bridge;
- :mod:`.fronts`: the authorization front and the UI's TLS front;
- :mod:`.nginx`: Debian's nginx, which the fronts and the bridge run on;
- :mod:`.prometheus`: Debian's Prometheus, scraping every process.
"""

from orders.devstack.servers.base import (
    HOST,
    Ready,
    free_port,
    http_ok,
    tail,
    tls_ready,
    wait_ready,
)
from orders.devstack.servers.fronts import (
    FRONT_CLIENT_CERT,
    FRONT_RULES,
    FRONT_TOKEN_KEY,
    authz_front,
    temporal_ui_front,
)
from orders.devstack.servers.identity import https_ready, identity_endpoint
from orders.devstack.servers.nginx import NGINX, NGINX_STREAM, nginx_config, nginx_front
from orders.devstack.servers.openbao import openbao, openbao_active, openbao_ready, openbao_unseal
from orders.devstack.servers.postgres import pg_bin, postgres, postgres_front, postgres_ready
from orders.devstack.servers.prometheus import prometheus
from orders.devstack.servers.temporal import (
    BRIDGE_DIR,
    INTERNODE_CA,
    INTERNODE_CERT,
    UNSHARE,
    bridge_sockets,
    frontend_ready,
    temporal,
    temporal_bridge,
)

__all__ = [
    "BRIDGE_DIR",
    "FRONT_CLIENT_CERT",
    "FRONT_RULES",
    "FRONT_TOKEN_KEY",
    "HOST",
    "INTERNODE_CA",
    "INTERNODE_CERT",
    "NGINX",
    "NGINX_STREAM",
    "UNSHARE",
    "Ready",
    "authz_front",
    "bridge_sockets",
    "free_port",
    "frontend_ready",
    "http_ok",
    "https_ready",
    "identity_endpoint",
    "nginx_config",
    "nginx_front",
    "openbao",
    "openbao_active",
    "openbao_ready",
    "openbao_unseal",
    "pg_bin",
    "postgres",
    "postgres_front",
    "postgres_ready",
    "prometheus",
    "tail",
    "temporal",
    "temporal_bridge",
    "temporal_ui_front",
    "tls_ready",
    "wait_ready",
]
