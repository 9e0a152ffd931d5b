"""The fronts people and identities reach Temporal through: authorization front, UI front."""

from __future__ import annotations

import sys
from typing import Final

from orders.contract import pki_names
from orders.devstack.procs import Proc
from orders.devstack.servers.base import HOST
from orders.devstack.servers.nginx import nginx_front
from orders.devstack.servers.temporal import INTERNODE_CA, bridge_sockets, metrics_socket
from orders.devstack.state import StackPaths
from orders.front import rules as front_rules

FRONT_CLIENT_CERT: Final = "temporal-front-client"
"""``tls/<name>.crt|key``: the front's client certificate to the frontend (internode CA)."""
FRONT_RULES: Final = "front-rules.json"
"""The authorization front's rules on the dev stack (under ``.orders/dev``)."""
FRONT_TOKEN_KEY: Final = "front-token-key"  # noqa: S105 - a file's name, not a secret


def temporal_ui_front(paths: StackPaths, ui_port: int, metrics_port: int) -> Proc:
    """Debian's nginx serving the UI over HTTPS (Vault PKI certificate), from the bridge.

    Browsers present no client certificate and the dev server's UI has no login, so the UI
    is made read-only here: only GET and HEAD pass (the UI's write actions — terminate,
    cancel, signal, reset — are POSTs to its API, which talks to the frontend from inside
    the server's namespace, around the authorization front). Decoding needs a codec-server
    sign-in. The bridge's UI socket is its owner's alone, so this front's worker runs as
    that owner. On ``metrics_port`` (plain HTTP, loopback) it serves the dev server's
    ``/metrics`` and nothing else, for Prometheus.
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
  server {{
    listen {HOST}:{metrics_port};
    location = /metrics {{
      limit_except GET {{ deny all; }}
      proxy_pass http://unix:{metrics_socket(paths)}:/metrics;
    }}
    location / {{ return 404; }}
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
    machines: tuple[str, str] | None = None,
) -> Proc:
    """The authorization front (:mod:`orders.front`) on the stack's Temporal address.

    Args:
        paths: The stack's paths.
        port: Identities' port (mTLS, Vault root CA).
        people_port: Persons' port (TLS + their OIDC token).
        health_port: Loopback port of its plain-HTTP ``/healthz`` (readiness).
        people: (JWKS URL, issuer, audience) of persons' tokens; None refuses persons.
        machines: (JWKS URL, issuer) of identities' tokens; None leaves their bearers unchecked.
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
        ]
        if people
        else []
    )
    machine_args = (
        ["--machine-jwks-url", machines[0], "--machine-issuer", machines[1]] if machines else []
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
            pki_names.TEMPORAL_FRONTEND_NAME,
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
            *machine_args,
            "--jwks-ca",
            str(paths.ca_file),
        ],
        log_path=paths.log_file("temporal-front"),
    )
