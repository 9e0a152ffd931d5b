"""docker-compose, the servers: ``docker-compose.infra.yml`` (included by the main file).

Postgres (the application's and Temporal's own), Temporal and its UI, OpenBao, the local
identity endpoint, the authorization front and the one-shot setup steps, all from official
images or the project's, hardened alike (the ``x-hardened`` / ``x-project`` anchors).
Configuration the servers read as files (OpenBao's HCL, ``pg_hba.conf``, the
certificate-reload script) is package data under ``orders/deploy/files/``, mounted through
top-level ``configs:`` entries.

Kubernetes auth is served by the same local identity endpoint the embedded stack uses, here
as ``identity.orders.local`` on a network of its own. No service shares another's network
namespace: each server has its own internal network that only its callers join, derived
from the identity contract (:mod:`orders.deploy.compose_networks`).

The Postgres superuser logs in only over the server's own Unix socket (``pg_hba.conf``
rejects ``postgres`` on every TCP line): the ``setup`` step, which bootstraps the database
as superuser, shares that socket through the ``postgres-socket`` volume, which no other
service mounts.
"""

# Paths below are inside containers ("/tmp" is each container's own tmpfs) and "token"
# names are file names: not the host temp dirs or secrets ruff's S105/S108 mean.
# ruff: noqa: S105, S108

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from orders.contract import pki_names
from orders.deploy import compose_networks, front, images, people_auth, tls
from orders.deploy.common import (
    CODEC_PORT,
    GID,
    IDENTITY_PORT,
    UID,
    Anchor,
    image,
)
from orders.deploy.compose_networks import service_networks

INFRA_FILE: Final = Path("docker-compose.infra.yml")
COMPOSE_IDENTITY_DIR: Final = "/run/orders-identity"
"""Where a compose service finds the identity endpoint's CA and its bootstrap credential."""
STATE_DIR: Final = "/var/lib/orders"
"""Writable state of the project's own compose services (a named volume, owned by UID)."""
POSTGRES_IMAGE: Final = images.POSTGRES.ref
TEMPORAL_IMAGE: Final = images.TEMPORAL_SERVER.ref
TEMPORAL_SCHEMA_IMAGE: Final = images.TEMPORAL_ADMIN_TOOLS.ref
TEMPORAL_UI_IMAGE: Final = images.TEMPORAL_UI.ref
OPENBAO_IMAGE: Final = images.OPENBAO.ref
POSTGRES_UID: Final = "999:999"
"""The ``postgres`` user of the Debian-based official image."""
TEMPORAL_UID: Final = "1000:1000"
"""The ``temporal`` user of Temporal's images."""
TEMPORAL_GID: Final = 1000
OPENBAO_UID: Final = "100:1000"
"""The ``openbao`` user and group of the OpenBao image."""
PG_SOCKET_DIR: Final = "/var/run/postgresql"
PG_SOCKET_VOLUME: Final = "postgres-socket"
"""The application Postgres' socket directory: the only way its superuser logs in."""
UI_SECRET_VOLUME: Final = "temporal-ui-oidc"
"""The UI's OIDC client secret (0640, the UI's group): mounted by ``setup`` and the UI only."""

# ----------------------------------------------------------------- building blocks

HARDENED: Final = Anchor(
    "hardened",
    {
        "read_only": True,
        "security_opt": ["no-new-privileges:true"],
        "cap_drop": ["ALL"],
        "tmpfs": ["/tmp:size=64m,mode=1777"],
    },
)
"""What every container gets: read-only root, no new privileges, no capabilities."""
PROJECT: Final = Anchor(
    "project",
    {
        "image": image(),
        "pull_policy": "never",  # built once by the identity service
        "user": f"{UID}:{GID}",
        **HARDENED,
    },
)
"""The project's image as its non-root user, hardened."""
PROBE: Final = Anchor(
    "probe", {"interval": "10s", "timeout": "5s", "retries": 5, "start_period": "30s"}
)
TLS_CA: Final = Anchor(
    "tls-ca", {"type": "volume", "source": "tls-ca", "target": tls.CA_DIR, "read_only": True}
)
"""The CA volume (public certificates only), read-only."""


def healthcheck(test: list[str], *, start: str | None = None) -> dict[str, Any]:
    """A healthcheck running ``test`` on the shared probe timings."""
    check: dict[str, Any] = {"<<": PROBE, "test": test}
    if start is not None:
        check["start_period"] = start
    return check


def healthy(*names: str) -> dict[str, Any]:
    """``depends_on`` entries: wait until ``names`` are healthy."""
    return {n: {"condition": "service_healthy"} for n in names}


def done(*names: str) -> dict[str, Any]:
    """``depends_on`` entries: wait until the one-shot ``names`` succeeded."""
    return {n: {"condition": "service_completed_successfully"} for n in names}


def project_service(command: list[str], **extra: Any) -> dict[str, Any]:
    """A service from the project's image (:data:`PROJECT`) running ``command``."""
    return {"<<": PROJECT, "command": command, **extra}


def tls_mounts(spec: tls.CertSpec | None) -> list[dict[str, Any]]:
    """The CA volume and, for a server, its own certificate volume (read-only)."""
    mounts: list[dict[str, Any]] = [TLS_CA]
    if spec is not None:
        mounts.append(
            {"type": "volume", "source": spec.volume, "target": tls.TLS_DIR, "read_only": True}
        )
    return mounts


def subpath_mount(volume: str, sub: str, target: str) -> dict[str, Any]:
    """One file of ``volume``, read-only at ``target``."""
    return {
        "type": "volume",
        "source": volume,
        "target": target,
        "read_only": True,
        "volume": {"subpath": sub},
    }


def oidc_files(*names: str) -> list[dict[str, Any]]:
    """Read-only mounts of the setup step's OIDC client ids (each service only its own)."""
    return [subpath_mount("oidc-clients", name, f"{people_auth.OIDC_DIR}/{name}") for name in names]


def state_mount(source: str, *, read_only: bool = True) -> dict[str, Any]:
    """The one-shot steps' state volume ``source`` at :data:`STATE_DIR`."""
    return {"type": "volume", "source": source, "target": STATE_DIR, "read_only": read_only}


RELOAD_CONFIG: Final = {"source": "tls-reload", "target": tls.RELOAD_SCRIPT_PATH}
COMPOSE_VAULT: Final = f"https://{pki_names.Server.OPENBAO.value}:8200"
"""OpenBao as every service reaches it: by its certificate's name (a network alias)."""
COMPOSE_TEMPORAL: Final = f"{pki_names.Server.TEMPORAL.value}:7233"
COMPOSE_PEOPLE: Final = people_auth.Endpoints(
    vault_public=COMPOSE_VAULT,
    vault_internal=COMPOSE_VAULT,
    ui_public=f"http://127.0.0.1:{compose_networks.UI_PORT}",
    codec_public=f"https://127.0.0.1:{CODEC_PORT}",
)
"""People's OIDC in compose: the issuer is OpenBao by its name, which the UI server and the
codec server resolve on the ``vault`` network and browsers on the host map to loopback
(``127.0.0.1 openbao.orders.local``; the ingress relay publishes the port), so every party
sees one issuer. The UI and the codec server are reached on published loopback ports."""
NAMESPACE_STEP: Final = "temporal-namespace"
"""Compose service / kind Job registering the namespace (``orders.deploy.setup namespace``)."""
PROMOTE_STEP: Final = "temporal-promote"
"""Compose service / kind Job making the workflow workers' version current
(``orders.deploy.setup promote``, :mod:`orders.deploy.setup_temporal`)."""

# ----------------------------------------------------------------- Postgres

PG_HBA_FILE: Final = "pg_hba.conf"
PG_HBA_PATH: Final = f"/etc/orders/{PG_HBA_FILE}"


def postgres_tls_args() -> list[str]:
    """``postgres`` options: TLS on with the PKI certificate, only TLS 1.2+, our pg_hba."""
    settings = {
        "ssl": "on",
        "ssl_cert_file": tls.SERVER_CERT_PATH,
        "ssl_key_file": tls.SERVER_KEY_PATH,
        "ssl_min_protocol_version": "TLSv1.2",
        "hba_file": PG_HBA_PATH,
    }
    return [a for k, v in settings.items() for a in ("-c", f"{k}={v}")]


def postgres_command() -> list[str]:
    """A deployed Postgres: its 0600 key copy, TLS on, ``pg_ctl reload`` on re-issue.

    ``pg_ctl reload`` (not a signal to the entrypoint's child, which is still the image's
    bash script while it initialises the cluster) makes the postmaster re-read the copy.
    """
    server = ["docker-entrypoint.sh", "postgres", *postgres_tls_args()]
    return tls.reloading_command(server, tls.PG_RELOAD)


def _postgres(user: str, secret: str, volume: str, spec: tls.CertSpec) -> dict[str, Any]:
    """A Postgres with native TLS (its PKI certificate ``spec``)."""
    return {
        "<<": HARDENED,
        "image": POSTGRES_IMAGE,
        "user": POSTGRES_UID,
        "entrypoint": postgres_command(),
        "environment": {
            "POSTGRES_USER": user,
            "POSTGRES_PASSWORD_FILE": f"/run/secrets/{secret}",
            "POSTGRES_INITDB_ARGS": "--auth-host=scram-sha-256 --auth-local=scram-sha-256",
        },
        "secrets": [secret],
        "configs": [{"source": "postgres-hba", "target": PG_HBA_PATH}, RELOAD_CONFIG],
        "volumes": [f"{volume}:/var/lib/postgresql/data", *tls_mounts(spec)],
        # The socket: no network hop, so no TLS needed to ask "ready?".
        "healthcheck": healthcheck(["CMD", "pg_isready", "-h", PG_SOCKET_DIR, "-U", user]),
        "depends_on": done("pki"),
        "restart": "unless-stopped",
    }


def orders_postgres() -> dict[str, Any]:
    """The application's Postgres; its socket directory is a volume ``setup`` shares."""
    svc = _postgres("postgres", "postgres-password", "postgres-data", tls.POSTGRES)
    svc["networks"] = service_networks("postgres")
    svc["tmpfs"] = ["/tmp:size=64m,mode=1777"]
    svc["volumes"].append(f"{PG_SOCKET_VOLUME}:{PG_SOCKET_DIR}")
    return svc


def temporal_db() -> dict[str, Any]:
    """Temporal's own Postgres: the same TLS-only setup, on Temporal's own network only."""
    svc = _postgres("temporal", "temporal-db-password", "temporal-db-data", tls.TEMPORAL_DB)
    svc["tmpfs"] = ["/tmp:size=64m,mode=1777", f"{PG_SOCKET_DIR}:size=1m,uid=999,gid=999"]
    # Temporal and the schema step reach it by its TLS name, each on a network of its own.
    svc["networks"] = service_networks("temporal-db")
    return svc


# ----------------------------------------------------------------- Temporal and its UI


def temporal_db_tls_env() -> dict[str, str]:
    """Temporal -> temporal-db over TLS, verified against the root CA and temporal-db's name.

    The server's persistence (the config template's ``SQL_TLS_ENABLED``, ``SQL_CA``,
    ``SQL_HOST_VERIFICATION``, ``SQL_HOST_NAME``: ``sslmode=verify-full``); the schema is
    the one-shot ``temporal-schema`` step's (:mod:`orders.deploy.temporal_schema`), with
    the same name and CA.
    """
    name = pki_names.TEMPORAL_DB_SERVER_NAME
    return {
        "POSTGRES_SEEDS": name,
        "SQL_TLS_ENABLED": "true",
        "SQL_CA": tls.CA_PATH,
        "SQL_HOST_VERIFICATION": "true",
        "SQL_HOST_NAME": name,
    }


def temporal_command(password_file: str, *, k8s: bool = False) -> list[str]:
    """The Temporal server: key copy, DB password from a file, re-copy on re-issue.

    ``temporalio/server``'s entrypoint renders the config template and serves; it sets
    nothing up (no schema, no namespace: :mod:`orders.deploy.temporal_schema` and
    :data:`NAMESPACE_STEP` do). The image takes the DB password only from the environment,
    so a shell reads the secret file first; a re-issued certificate is copied and Temporal
    re-reads it by itself. Compose interpolates ``$`` (``$$`` is a literal one);
    Kubernetes leaves it alone.
    """
    dollar = "$" if k8s else "$$"
    pwd = f'POSTGRES_PWD="{dollar}(cat {password_file})"'
    script = f"{pwd} exec /etc/temporal/entrypoint.sh"
    return tls.reloading_command(["/bin/sh", "-c", script], tls.NO_RELOAD)


def temporal_health_command() -> list[str]:
    """``temporal`` CLI health check: APIs the ``default`` authorizer allows without a token.

    ``cluster health`` dials (``GetSystemInfo``) and calls ``grpc.health.v1.Health/Check``.
    """
    return ["temporal", "operator", "cluster", "health"]


def temporal_ui_tls_env() -> dict[str, str]:
    """The UI server's mTLS to the frontend (its own client certificate).

    SSL_CERT_FILE: the UI verifies OpenBao (the OIDC issuer) against the same CA.
    """
    return {
        "TEMPORAL_TLS_CA": tls.CA_PATH,
        "TEMPORAL_TLS_CERT": tls.SERVER_CERT_PATH,
        "TEMPORAL_TLS_KEY": tls.SERVER_KEY_PATH,
        "TEMPORAL_TLS_SERVER_NAME": pki_names.Server.TEMPORAL.value,
        "TEMPORAL_TLS_ENABLE_HOST_VERIFICATION": "true",
        "SSL_CERT_FILE": tls.CA_PATH,
    }


def temporal() -> dict[str, Any]:
    """The Temporal server, behind the front.

    It shares a network only with the front (and the JWKS relay) and with its own database.
    """
    return {
        "<<": HARDENED,
        "image": TEMPORAL_IMAGE,
        "user": TEMPORAL_UID,
        "entrypoint": temporal_command("/run/secrets/temporal-db-password"),
        "environment": {
            "DB": "postgres12",
            "DB_PORT": "5432",
            "POSTGRES_USER": "temporal",
            "HOME": "/tmp",
            **front.temporal_bind_env(),
            **front.temporal_tls_env(front.upstream()),
            **temporal_db_tls_env(),
            **people_auth.temporal_server_env(COMPOSE_PEOPLE),
        },
        "secrets": ["temporal-db-password"],
        "configs": [RELOAD_CONFIG],
        # The entrypoint renders its config here: a volume, the rest stays read-only.
        "volumes": ["temporal-config:/etc/temporal/config", *tls_mounts(tls.TEMPORAL_INTERNODE)],
        "networks": service_networks("temporal"),
        "healthcheck": healthcheck(
            [
                "CMD",
                *temporal_health_command(),
                "--address",
                front.upstream(),
                *front.temporal_cli_tls_args(),
            ],
            start="90s",
        ),
        "depends_on": {
            **healthy("temporal-db"),
            **done("pki", "temporal-schema"),
            **healthy(front.RELAY),
        },
        "restart": "unless-stopped",
    }


def temporal_ui() -> dict[str, Any]:
    """The Temporal UI with people's login; its OIDC client secret from its own file.

    The UI server reads the secret only from ``TEMPORAL_AUTH_CLIENT_SECRET`` (no file
    option), so its entrypoint (:func:`orders.deploy.people_auth.ui_entrypoint`) reads the
    file into the variable of the UI process alone, at exec time: the secret is in no
    compose file, in no other container's environment, and in a volume only ``setup``
    (writer) and the UI mount.
    """
    shell, flag, script = people_auth.ui_entrypoint()
    return {
        "<<": HARDENED,
        "image": TEMPORAL_UI_IMAGE,
        "user": TEMPORAL_UID,
        "networks": service_networks("temporal-ui"),
        "entrypoint": [shell, flag, tls.copy_then(script)],
        "environment": {
            "TEMPORAL_ADDRESS": COMPOSE_TEMPORAL,
            "TEMPORAL_CODEC_ENDPOINT": COMPOSE_PEOPLE.codec_public,
            "TEMPORAL_CORS_ORIGINS": COMPOSE_PEOPLE.ui_public,
            **temporal_ui_tls_env(),
            **people_auth.temporal_ui_env(COMPOSE_PEOPLE),
        },
        "volumes": [
            "temporal-ui-config:/home/ui-server/config",
            *oidc_files(people_auth.UI_CLIENT_ID_FILE),
            subpath_mount(
                UI_SECRET_VOLUME,
                people_auth.UI_CLIENT_SECRET_FILE,
                f"{people_auth.UI_SECRET_DIR}/{people_auth.UI_CLIENT_SECRET_FILE}",
            ),
            *tls_mounts(tls.TEMPORAL_UI),
        ],
        "healthcheck": healthcheck(
            ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/healthz"]
        ),
        "depends_on": {**healthy(front.NAME, "openbao"), **done("setup")},
        "restart": "unless-stopped",
    }


# ----------------------------------------------------------------- OpenBao, identity endpoint


def identity_endpoint() -> dict[str, Any]:
    """The local Kubernetes identity endpoint, as ``identity.orders.local`` on its network.

    Its own CA certifies that name (as a cluster's CA does its apiserver); OpenBao
    (TokenReview) and every identity (TokenRequest) verify it with that CA.
    """
    ca = f"{STATE_DIR}/identity/ca.crt"
    probe = (
        "import ssl, urllib.request as u; u.urlopen("
        f"'https://127.0.0.1:{IDENTITY_PORT}/healthz', context="
        f"ssl.create_default_context(cafile='{ca}'))"
    )
    argv = ["python", "-m", "orders.devstack.identity_endpoint"]
    bind = [
        *("--host", "0.0.0.0"),  # noqa: S104 - on its internal network only
        *("--server-name", compose_networks.IDENTITY_HOST),
        *("--port", str(IDENTITY_PORT)),
    ]
    return project_service(
        [*argv, "--state-dir", f"{STATE_DIR}/identity", *bind],
        pull_policy="build",
        build={"context": "."},
        volumes=[f"identity-state:{STATE_DIR}"],
        networks=service_networks(compose_networks.IDENTITY_SERVICE),
        healthcheck=healthcheck(["CMD", "python", "-c", probe]),
        restart="unless-stopped",
    )


OPENBAO_HCL: Final = "openbao-compose.hcl"
OPENBAO_CONFIG_PATH: Final = "/openbao/config/config.hcl"


def openbao() -> dict[str, Any]:
    """OpenBao: raft storage, TLS only, reloading its certificate on SIGHUP."""
    return {
        "<<": HARDENED,
        "image": OPENBAO_IMAGE,
        "user": OPENBAO_UID,
        "networks": service_networks("openbao"),
        "entrypoint": tls.reloading_command(
            ["bao", "server", f"-config={OPENBAO_CONFIG_PATH}"], tls.HUP
        ),
        "configs": [{"source": "openbao-config", "target": OPENBAO_CONFIG_PATH}, RELOAD_CONFIG],
        "volumes": ["openbao-data:/openbao/data", *tls_mounts(tls.OPENBAO)],
        # Healthy means initialised *and* unsealed (openbao-init does that); verified
        # against the CAs directory (bootstrap CA first, then the Vault root CA).
        "healthcheck": healthcheck(
            ["CMD", "bao", "status", "-address=https://127.0.0.1:8200", f"-ca-path={tls.CA_DIR}"]
        ),
        "depends_on": done("tls-bootstrap"),
        "restart": "unless-stopped",
    }
