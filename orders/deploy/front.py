"""The authorization front for Temporal in the deployed stacks (docker-compose, kind).

Every worker, client, the codec server, the UI and the namespace step dial
``temporal.orders.local:7233``: that name is the front's (``python -m orders.front``, from
the project's image, as the project's non-root user). The front authenticates the caller
(client certificate from the Vault root CA, or a person's JWT), allows what the identity
contract grants, and calls the real frontend as ``temporal-front`` with a client
certificate from Temporal's *internode* CA (:func:`orders.vault.pki.apply_internode_pki`).

Temporal itself serves and calls its own services with ``temporal-frontend.orders.local``
from that internode CA, and trusts that CA alone (frontend *and* internode client CA), so no
certificate the Vault root CA vouches for — no identity's, no person's, no other server's —
completes a handshake with Temporal. The network says the same:

* compose: Temporal is attached to two internal networks only: ``temporal`` (shared with the
  front, where its alias is ``temporal-frontend.orders.local``) and ``temporal-db`` (shared
  with its own Postgres). The name ``temporal.orders.local`` is the front's, on its own
  ``temporal-front`` network (:mod:`orders.deploy.compose_networks`). Temporal still
  verifies JWTs against OpenBao's key sets; it fetches them through
  :mod:`orders.deploy.relay` (``openbao-relay``: TLS end to end, bytes only), the one member
  of its network that reaches OpenBao, so Temporal never shares a network with an identity;
* kind: NetworkPolicies (see :func:`temporal_policy`, :func:`front_policy`) admit only the
  front's pods (and Temporal's own, internode) to Temporal, and only the workers, the
  client/demo, the codec server, the UI and the namespace Job to the front.
"""

# Container paths: "/tmp" is each container's own tmpfs.
# ruff: noqa: S108

from __future__ import annotations

from typing import Any, Final

from orders.contract import identities, pki_names
from orders.deploy import people_auth, tls
from orders.vault import tokens as vault_tokens

NAME: Final = "temporal-front"
"""Compose service, Deployment, Service, ServiceAccount and NetworkPolicy of the front."""
PORT: Final = 7233
HEALTH_PORT: Final = 7243
"""The front's plain-HTTP ``GET /healthz`` (200 when the upstream answers GetSystemInfo)."""
FRONTEND_PORT: Final = 7233
"""The real Temporal frontend's port (behind the front)."""
INTERNODE_PORTS: Final = (6933, 6934, 6935, 6939, 7234, 7235, 7239)
"""Temporal's membership and internode gRPC ports (frontend, history, matching, worker)."""
CLIENT_TLS_DIR: Final = "/run/orders-tls-upstream"
"""Where the front finds its internode client certificate (``temporal-front``)."""
TOKEN_KEY: Final = "temporal-front-token-key"  # noqa: S105 - a Secret's name
"""Compose secret / Kubernetes Secret holding the task-token MAC key (the same for every
replica)."""
TOKEN_KEY_FILE: Final = "token-key"  # noqa: S105 - a file name
LIVE_TOKEN_KEY: Final = f"/tmp/{TOKEN_KEY_FILE}"
"""The front's own 0600 copy of the key (its tmpfs), what ``--token-key-file`` reads."""
INTERNODE_CA_CONFIGMAP: Final = "temporal-internode-ca"
"""kind: ConfigMap (orders-infra) holding Temporal's internode CA (``internode-ca.pem``)."""
TEMPORAL_NETWORK: Final = "temporal"
TEMPORAL_DB_NETWORK: Final = "temporal-db"
RELAY: Final = "openbao-relay"
FRONTEND: Final = pki_names.TEMPORAL_FRONTEND_NAME


def upstream(host: str = FRONTEND) -> str:
    """``--upstream``: the real frontend (compose: its alias; kind: its Service)."""
    return f"{host}:{FRONTEND_PORT}"


def command(
    *,
    upstream_target: str,
    token_key: str,
    vault: people_auth.Endpoints | None = None,
    machine_issuer: str = "",
    ui_audience: str = "",
) -> list[str]:
    """``python -m orders.front ...`` with the deployed stacks' paths.

    One audience per token kind (:mod:`orders.front.bearers`): each identity may forward
    only its own machine token, the UI principal only the UI client's tokens.

    Args:
        upstream_target: ``--upstream`` (the real frontend).
        token_key: File the MAC key is read from.
        vault: Where OpenBao's key sets are (identities' tokens; people's provider); None:
            the front checks no bearer.
        machine_issuer: ``--machine-issuer``: identities' tokens' ``iss`` (OpenBao's
            ``api_addr`` there, :func:`orders.vault.tokens.issuer_for`).
        ui_audience: ``--ui-audience``: the UI client's id (a shell expression in compose:
            read from a file); empty where the UI has no login (kind) and forwards no token.
    """
    token_args: list[str] = []
    if vault is not None:
        token_args = [
            "--machine-jwks-url",
            vault.machine_jwks_internal,
            "--machine-issuer",
            machine_issuer,
            "--jwks-ca",
            tls.CA_PATH,
        ]
    if vault is not None and ui_audience:
        token_args += [
            "--people-jwks-url",
            vault.jwks_internal,
            "--people-issuer",
            vault.issuer,
            "--ui-audience",
            ui_audience,
        ]
    return [
        "python",
        "-m",
        "orders.front",
        "--listen",
        f"0.0.0.0:{PORT}",
        "--tls-cert",
        f"{tls.TLS_DIR}/{tls.CERT_FILE}",
        "--tls-key",
        f"{tls.TLS_DIR}/{tls.KEY_FILE}",
        "--client-ca",
        tls.CA_PATH,
        "--upstream",
        upstream_target,
        "--upstream-server-name",
        FRONTEND,
        "--upstream-ca",
        tls.INTERNODE_CA_PATH,
        "--upstream-cert",
        f"{CLIENT_TLS_DIR}/{tls.CERT_FILE}",
        "--upstream-key",
        f"{CLIENT_TLS_DIR}/{tls.KEY_FILE}",
        "--token-key-file",
        token_key,
        *token_args,
        "--health-port",
        str(HEALTH_PORT),
    ]


def temporal_tls_env(address: str) -> dict[str, str]:
    """Temporal's native TLS (frontend and internode) with the internode certificate only.

    Server certificate ``temporal-frontend.orders.local`` from the internode CA; client
    certificates required and verified against the internode CA *alone* (the front's and
    Temporal's own); host names verified. The ``temporal`` CLI of its healthcheck
    (``address``) uses the same certificate; SSL_CERT_FILE stays the Vault root CA
    (OpenBao's JWKS over TLS).
    """
    return {
        "TEMPORAL_TLS_SERVER_CA_CERT": tls.INTERNODE_CA_PATH,
        "TEMPORAL_TLS_SERVER_CERT": tls.SERVER_CERT_PATH,
        "TEMPORAL_TLS_SERVER_KEY": tls.SERVER_KEY_PATH,
        "TEMPORAL_TLS_REQUIRE_CLIENT_AUTH": "true",
        "TEMPORAL_TLS_FRONTEND_CERT": tls.SERVER_CERT_PATH,
        "TEMPORAL_TLS_FRONTEND_KEY": tls.SERVER_KEY_PATH,
        "TEMPORAL_TLS_CLIENT1_CA_CERT": tls.INTERNODE_CA_PATH,
        "TEMPORAL_TLS_CLIENT2_CA_CERT": tls.INTERNODE_CA_PATH,
        "TEMPORAL_TLS_INTERNODE_SERVER_NAME": FRONTEND,
        "TEMPORAL_TLS_FRONTEND_SERVER_NAME": FRONTEND,
        "TEMPORAL_TLS_INTERNODE_DISABLE_HOST_VERIFICATION": "false",
        "TEMPORAL_TLS_FRONTEND_DISABLE_HOST_VERIFICATION": "false",
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_TLS_CA": tls.INTERNODE_CA_PATH,
        "TEMPORAL_TLS_CERT": tls.SERVER_CERT_PATH,
        "TEMPORAL_TLS_KEY": tls.SERVER_KEY_PATH,
        "TEMPORAL_TLS_SERVER_NAME": FRONTEND,
        "SSL_CERT_FILE": tls.CA_PATH,
        # Re-read the certificate files the entrypoint re-copies after a re-issue.
        "TEMPORAL_TLS_REFRESH_INTERVAL": tls.TEMPORAL_REFRESH,
    }


def temporal_bind_env() -> dict[str, str]:
    """Compose: Temporal listens on every network it is on (the front's and its Postgres').

    The image binds to the first address of its host name otherwise (one network only);
    its broadcast address (membership, inside the one process) stays that address.
    """
    return {"BIND_ON_IP": "0.0.0.0"}  # noqa: S104 - on Temporal's internal networks only


def temporal_cli_tls_args() -> list[str]:
    """``temporal`` CLI flags of Temporal's own healthcheck: its internode certificate."""
    return [
        "--tls-ca-path",
        tls.INTERNODE_CA_PATH,
        "--tls-cert-path",
        tls.SERVER_CERT_PATH,
        "--tls-key-path",
        tls.SERVER_KEY_PATH,
        "--tls-server-name",
        FRONTEND,
    ]


def health_check_python() -> str:
    """``python -c`` body: the front's ``/healthz`` answers 200 (upstream reachable)."""
    return (
        "import urllib.request as u; "
        f"u.urlopen('http://127.0.0.1:{HEALTH_PORT}/healthz', timeout=4).read()"
    )


# --------------------------------------------------------------------------- compose


def compose_services(people: people_auth.Endpoints) -> dict[str, Any]:
    """The compose services ``temporal-front`` and ``openbao-relay``.

    Compose's OpenBao has its public address as ``api_addr``, so identities' tokens say
    ``iss`` = that address + ``/v1/identity/oidc`` (a unit test reads the rendered config).
    """
    from orders.deploy import compose_infra as ci
    from orders.deploy import compose_networks

    audience = f'"$$(cat {people_auth.OIDC_DIR}/{people_auth.UI_CLIENT_ID_FILE})"'
    argv = command(
        upstream_target=upstream(),
        token_key=LIVE_TOKEN_KEY,
        vault=people,
        machine_issuer=vault_tokens.issuer_for(people.vault_public),
        ui_audience=audience,
    )
    copy_key = f"(umask 077 && cat /run/secrets/{TOKEN_KEY} > {LIVE_TOKEN_KEY})"
    script = f"{copy_key} && exec " + " ".join(argv)
    front = ci.project_service(
        ["/bin/sh", "-c", script],
        environment={"SSL_CERT_FILE": tls.CA_PATH},  # people's JWKS from OpenBao
        secrets=[TOKEN_KEY],
        volumes=[
            *ci.tls_mounts(tls.TEMPORAL),
            {
                "type": "volume",
                "source": tls.TEMPORAL_FRONT.volume,
                "target": CLIENT_TLS_DIR,
                "read_only": True,
            },
            *ci.oidc_files(people_auth.UI_CLIENT_ID_FILE),
        ],
        # Every caller reaches it by Temporal's public name; it alone reaches Temporal.
        networks=compose_networks.service_networks(NAME),
        healthcheck=ci.healthcheck(["CMD", "python", "-c", health_check_python()]),
        depends_on={**ci.healthy("temporal", "openbao"), **ci.done("setup")},
        restart="unless-stopped",
    )
    relay = ci.project_service(
        [
            "python",
            "-m",
            "orders.deploy.relay",
            "--listen",
            "0.0.0.0:8200",
            # OpenBao by its service name (its TLS name is the relay's own alias here).
            "--to",
            "openbao:8200",
        ],
        networks=compose_networks.service_networks(RELAY),
        healthcheck=ci.healthcheck(
            [
                "CMD",
                "python",
                "-c",
                "import socket; socket.create_connection(('127.0.0.1', 8200), 3).close()",
            ]
        ),
        depends_on=ci.healthy("openbao"),
        restart="unless-stopped",
    )
    return {NAME: front, RELAY: relay}


# --------------------------------------------------------------------------- kind

INFRA: Final = "orders-infra"
_NAME: Final = "app.kubernetes.io/name"
TEMPORAL_APP: Final = "temporal"
"""``app.kubernetes.io/name`` of Temporal's pods (its Service ``temporal-frontend``)."""
INFRA_CALLERS: Final = ("temporal-ui", "temporal-namespace", "temporal-promote")
"""Pods of ``orders-infra`` that call Temporal: the UI, then the Jobs acting as
``temporal-admin`` (namespace registration, promoting the workflow workers' version)."""
ADMIN_JOBS: Final = INFRA_CALLERS[1:]
"""The Jobs of :data:`INFRA_CALLERS` acting as ``temporal-admin``."""


def app_callers() -> tuple[str, ...]:
    """Pods of the application namespace that call Temporal: the workers.

    The client (CLI, demo) runs no pod (``kind.sh demo`` port-forwards to the front), the
    codec server and the migrations never call Temporal (their own egress policies have no
    Temporal peer either).
    """
    return tuple(i.name for i in identities.workers())


def pods(namespace: str, names: tuple[str, ...]) -> dict[str, Any]:
    """A NetworkPolicy peer: the pods of ``namespace`` named one of ``names``."""
    return {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        "podSelector": {
            "matchExpressions": [{"key": _NAME, "operator": "In", "values": list(names)}]
        },
    }


def tcp(*ports: int) -> list[dict[str, Any]]:
    """NetworkPolicy ports: TCP ``ports``."""
    return [{"protocol": "TCP", "port": p} for p in ports]


OPENBAO_APP: Final = "openbao"
"""``app.kubernetes.io/name`` of OpenBao's pods (the key sets the front verifies with)."""
OPENBAO_PORT: Final = 8200


def kind_command() -> list[str]:
    """The kind Deployment's command (``k8s/overlays/kind/infra/temporal-front``).

    kind's OpenBao has ``openbao.orders.local`` as ``api_addr`` (its StatefulSet's
    ``BAO_API_ADDR``), the base of identities' tokens' ``iss``; the UI has no login there.
    """
    from orders.deploy import common, k8s_base

    return command(
        upstream_target=upstream(f"temporal-frontend.{common.INFRA_NAMESPACE}.svc"),
        token_key=f"/run/secrets/{NAME}/{TOKEN_KEY_FILE}",
        vault=k8s_base.KIND_PEOPLE,
        machine_issuer=vault_tokens.issuer_for(k8s_base.KIND_PEOPLE.vault_internal),
    )


def front_policy() -> dict[str, Any]:
    """The front accepts the workers, the UI and the namespace Job; it reaches Temporal only.

    And OpenBao, for the key sets it checks identities' tokens with.
    """
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": NAME,
            "namespace": INFRA,
            "labels": {_NAME: NAME, "app.kubernetes.io/part-of": "hardened-orders"},
        },
        "spec": {
            "podSelector": {"matchLabels": {_NAME: NAME}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [
                        pods(identities.K8S_NAMESPACE, app_callers()),
                        pods(INFRA, INFRA_CALLERS),
                    ],
                    "ports": tcp(PORT),
                }
            ],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                            },
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [
                        {"protocol": "UDP", "port": 53},
                        {"protocol": "TCP", "port": 53},
                    ],
                },
                {"to": [pods(INFRA, (TEMPORAL_APP,))], "ports": tcp(FRONTEND_PORT)},
                {"to": [pods(INFRA, (OPENBAO_APP,))], "ports": tcp(OPENBAO_PORT)},
            ],
        },
    }


def temporal_policy() -> dict[str, Any]:
    """Temporal's frontend port admits the front's pods only.

    Its internode ports (and the frontend, for its own services and its healthcheck's CLI) admit
    Temporal's own pods.
    """
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": TEMPORAL_APP,
            "namespace": INFRA,
            "labels": {_NAME: TEMPORAL_APP, "app.kubernetes.io/part-of": "hardened-orders"},
        },
        "spec": {
            "podSelector": {"matchLabels": {_NAME: TEMPORAL_APP}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [pods(INFRA, (NAME,))], "ports": tcp(FRONTEND_PORT)},
                {
                    "from": [pods(INFRA, (TEMPORAL_APP,))],
                    "ports": tcp(FRONTEND_PORT, *INTERNODE_PORTS),
                },
            ],
        },
    }


def token_key_secret_body() -> dict[str, Any]:
    """The front's task-token MAC key as a new Secret (48 random bytes, base64 text)."""
    import base64
    import secrets

    key = base64.b64encode(secrets.token_bytes(48)).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": TOKEN_KEY, "labels": {"app.kubernetes.io/part-of": "hardened-orders"}},
        "data": {TOKEN_KEY_FILE: base64.b64encode(key.encode()).decode()},
    }
