"""docker-compose, the identities: ``docker-compose.yml`` (it includes the servers' file).

One service per identity that runs (workers, codec server, migrations), each on the
internal networks of what its contract lets it call (:mod:`orders.deploy.compose_networks`),
with its own bootstrap credential mounted and nothing else. What every identity shares is
written once, as ``x-`` extension fields with YAML anchors (``x-identity-env``,
``x-identity-ca``, ``x-worker``); a worker's own service says its name and networks. The
servers, setup steps and shared resources are in ``docker-compose.infra.yml``
(:mod:`orders.deploy.compose_steps`), pulled in with ``include:``.
"""

# Paths below are inside containers ("/tmp" is each container's own tmpfs) and "token"
# names are file names: not the host temp dirs or secrets ruff's S105/S108 mean.
# ruff: noqa: S108

from __future__ import annotations

from typing import Any, Final

from orders.contract import identities, pki_names
from orders.contract.identities import Identity, Kind
from orders.deploy import compose_networks, compose_steps, front, people_auth, setup_temporal, tls
from orders.deploy.common import (
    CODEC_PORT,
    PROJECT,
    Anchor,
    codec_tls_env,
    identity_env,
    worker_env,
)
from orders.deploy.compose_infra import (
    COMPOSE_IDENTITY_DIR,
    COMPOSE_PEOPLE,
    COMPOSE_TEMPORAL,
    COMPOSE_VAULT,
    INFRA_FILE,
    NAMESPACE_STEP,
    PROBE,
    PROMOTE_STEP,
    TLS_CA,
    done,
    healthcheck,
    healthy,
    oidc_files,
    subpath_mount,
    tls_mounts,
)
from orders.deploy.compose_infra import PROJECT as PROJECT_IMAGE
from orders.deploy.compose_networks import service_networks

IDENTITY_ENV: Final = Anchor(
    "identity-env",
    {
        **worker_env(
            temporal=COMPOSE_TEMPORAL,
            vault=COMPOSE_VAULT,
            db_host=pki_names.Server.POSTGRES.value,
            db_port=5432,
        ),
        "ORDERS_TOKEN_FILE": "/tmp/vault-token",
        "ORDERS_K8S_HOST": compose_networks.IDENTITY_URL,
        "ORDERS_K8S_CA_FILE": f"{COMPOSE_IDENTITY_DIR}/ca.crt",
        "ORDERS_K8S_CLIENT_TOKEN_FILE": f"{COMPOSE_IDENTITY_DIR}/client.token",
    },
)
"""``ORDERS_*`` settings every identity shares (its own are added per service)."""
IDENTITY_CA: Final = Anchor(
    "identity-ca",
    subpath_mount("identity-state", "identity/ca.crt", f"{COMPOSE_IDENTITY_DIR}/ca.crt"),
)
"""The identity endpoint's CA (public), which every identity verifies it with."""
IDENTITY: Final = PROJECT_IMAGE
"""The project's image as its non-root user, hardened (each identity adds its networks)."""
WORKER: Final = Anchor(
    "worker",
    {
        "<<": IDENTITY,
        "healthcheck": healthcheck(["CMD", "python", "-m", "workers.probe", "ready"], start="60s"),
        "depends_on": {
            **healthy("openbao", front.NAME),
            **done(identities.ORDER_MIGRATE.name, NAMESPACE_STEP),
        },
        "stop_grace_period": "45s",
        "restart": "unless-stopped",
    },
)
"""What every worker shares: probe, start order, stop grace, restart."""


def identity_volumes(identity: Identity, *extra: dict[str, Any]) -> list[dict[str, Any]]:
    """The CA and ``identity``'s own bootstrap credential, never the issuer's keys."""
    token = subpath_mount(
        "identity-state",
        f"identity/clients/{identity.service_account}.token",
        f"{COMPOSE_IDENTITY_DIR}/client.token",
    )
    return [IDENTITY_CA, token, *extra]


def environment(identity: Identity, **extra: str) -> dict[str, Any]:
    """The shared settings (:data:`IDENTITY_ENV`) plus ``identity``'s own."""
    return {"<<": IDENTITY_ENV, **identity_env(identity), **extra}


def identity_service(identity: Identity) -> dict[str, Any]:
    """The compose service running as ``identity`` (worker, codec server or migrations)."""
    if identity.kind is Kind.MIGRATE:
        return {
            "<<": IDENTITY,
            "command": ["python", "-m", "orders.deploy.setup", "migrate"],
            "environment": environment(identity),
            "volumes": identity_volumes(identity, TLS_CA),
            "networks": service_networks(identity.name),
            "depends_on": done("setup"),
            "restart": "no",
        }
    if identity.kind is Kind.CODEC:
        probe = (
            "import socket, ssl; ssl.create_default_context(cafile="
            f"'{tls.CA_PATH}').wrap_socket(socket.create_connection(('127.0.0.1', "
            f"{CODEC_PORT}), 3), server_hostname='{pki_names.Server.CODEC.value}')"
        )
        # On its networks (the ingress relay reaches it on ``vault``), not on loopback only.
        bind = ["--host", "0.0.0.0", "--port", str(CODEC_PORT)]  # noqa: S104
        serve = ["orders", "codec-server", *bind]
        return {
            "<<": IDENTITY,
            "command": people_auth.codec_entrypoint(serve),
            "environment": environment(
                identity, **people_auth.codec_env(COMPOSE_PEOPLE), **codec_tls_env()
            ),
            "volumes": identity_volumes(
                identity,
                *oidc_files(people_auth.CODEC_CLIENT_ID_FILE),
                *tls_mounts(tls.CODEC),
            ),
            "networks": service_networks(identity.name),
            "healthcheck": healthcheck(["CMD", "python", "-c", probe]),
            "depends_on": {**healthy("openbao"), **done("setup", "pki")},
            "restart": "unless-stopped",
        }
    return {
        "<<": WORKER,
        "command": ["python", "-m", "workers", identity.name],
        "environment": environment(identity),
        "volumes": identity_volumes(identity, TLS_CA),
        "networks": service_networks(identity.name),
    }


def compose() -> dict[str, Any]:
    """``docker-compose.yml``: the identities, the servers' file included."""
    services = {
        ident.name: identity_service(ident)
        for ident in (identities.ORDER_MIGRATE, identities.CODEC_SERVER, *identities.workers())
    }
    # Versioned workflow workers get new runs only once their version is current.
    versioned = [i.name for i in setup_temporal.workflow_identities()]
    services[PROMOTE_STEP] = compose_steps.promote_step(versioned)
    return {
        "name": PROJECT,
        "include": [INFRA_FILE.as_posix()],
        "x-project": PROJECT_IMAGE,
        "x-probe": PROBE,
        "x-tls-ca": TLS_CA,
        "x-identity-env": IDENTITY_ENV,
        "x-identity-ca": IDENTITY_CA,
        "x-worker": WORKER,
        "services": services,
    }
