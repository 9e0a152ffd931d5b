"""docker-compose, the one-shot setup steps, and the infra file they belong to.

In order: ``tls-bootstrap`` (OpenBao's throwaway first certificate), ``openbao-init``
(initialise, unseal), ``pki`` (Vault PKI, every server's certificate), ``setup`` (database
bootstrap over the Postgres socket, ``vault/`` applied, OIDC clients written),
``temporal-namespace``, and, in ``docker-compose.yml`` beside the workers,
``temporal-promote``; see :mod:`orders.deploy.setup`. The servers themselves are in
:mod:`orders.deploy.compose_infra`; :func:`infra` assembles the included file.
"""

from __future__ import annotations

from typing import Any, Final

from orders.contract import pki_names
from orders.deploy import compose_networks, front, people_auth, temporal_schema, tls
from orders.deploy.common import compose_source
from orders.deploy.compose_infra import (
    COMPOSE_IDENTITY_DIR,
    COMPOSE_PEOPLE,
    COMPOSE_TEMPORAL,
    COMPOSE_VAULT,
    HARDENED,
    NAMESPACE_STEP,
    OPENBAO_HCL,
    PG_HBA_FILE,
    PG_SOCKET_DIR,
    PG_SOCKET_VOLUME,
    PROBE,
    PROJECT,
    PROMOTE_STEP,
    STATE_DIR,
    TEMPORAL_GID,
    TLS_CA,
    UI_SECRET_VOLUME,
    done,
    healthy,
    identity_endpoint,
    openbao,
    orders_postgres,
    project_service,
    state_mount,
    subpath_mount,
    temporal,
    temporal_db,
    temporal_ui,
    tls_mounts,
)
from orders.deploy.compose_infra import (
    TEMPORAL_UID as TEMPORAL_UID_STR,
)
from orders.deploy.compose_networks import service_networks
from orders.deploy.setup_tokens import TOKEN_KEY, Step

PKI_DIR: Final = "/var/lib/orders-pki"
"""Mount points of the per-server volumes in the one-shot ``tls-bootstrap``/``pki`` steps."""
SERVER_GIDS: Final = {
    tls.OPENBAO.name: 1000,
    tls.POSTGRES.name: 999,
    tls.TEMPORAL_DB.name: 999,
    tls.TEMPORAL_INTERNODE.name: 1000,
    tls.TEMPORAL_UI.name: 1000,
}
"""Group of each server's process (its image's user), the only group its key is readable
by; the codec server and the front (``temporal``, ``temporal-front``) run as the project's
UID, like the writer, so their keys stay 0600."""
SETUP: Final = ["python", "-m", "orders.deploy.setup"]


def bootstrap_vault_cas(ca_dir: str = tls.CA_DIR) -> list[str]:
    """``--vault-ca-file`` args of the steps that may meet OpenBao's bootstrap certificate."""
    files = (tls.BOOTSTRAP_CA_FILE, tls.CA_FILE)
    return [a for name in files for a in ("--vault-ca-file", f"{ca_dir}/{name}")]


def flags(*pairs: tuple[str, str]) -> list[str]:
    """``--option value`` pairs as argv."""
    return [word for pair in pairs for word in pair]


STEP_TOKEN_DIR: Final = "/var/lib/orders-steps"  # noqa: S105 - a directory, not a token
"""Where a setup step's own token volume is mounted (``<dir>/<step>/token``)."""


def step_volume(step: Step) -> str:
    """The volume holding ``step``'s OpenBao token: written by ``openbao-init``, read by it."""
    return f"openbao-token-{step.value}"


def _step_token(step: Step, *, read_only: bool = True) -> dict[str, Any]:
    target = f"{STEP_TOKEN_DIR}/{step.value}"
    return {"type": "volume", "source": step_volume(step), "target": target, "read_only": read_only}


def _vault(ca_dir: str = tls.CA_DIR, *, step: Step | None = None) -> list[str]:
    """How a step reaches OpenBao (and, for a later ``step``, the token it alone holds)."""
    token = ["--token-file", f"{STEP_TOKEN_DIR}/{step.value}/{TOKEN_KEY}"] if step else []
    return ["--vault-addr", COMPOSE_VAULT, *bootstrap_vault_cas(ca_dir), *token]


def _pki_volumes(*specs: tls.CertSpec) -> list[dict[str, Any]]:
    mounts = [{"type": "volume", "source": "tls-ca", "target": f"{PKI_DIR}/ca"}]
    return mounts + [
        {"type": "volume", "source": s.volume, "target": f"{PKI_DIR}/{s.name}"} for s in specs
    ]


def openbao_init() -> dict[str, Any]:
    """Initialise (once) and unseal OpenBao, hand each later step its token, revoke root.

    The unseal key stays in the ``openbao-init`` volume (mounted by this step alone); each
    later step's token goes to that step's own volume; no root token is written anywhere.
    """
    hand = [a for s in Step for a in ("--step-token-dir", f"{s.value}={STEP_TOKEN_DIR}/{s.value}")]
    return project_service(
        [*SETUP, "unseal", *_vault(), "--state-dir", f"{STATE_DIR}/openbao-init", *hand],
        networks=service_networks("openbao-init"),
        volumes=[
            state_mount("openbao-init", read_only=False),
            *(_step_token(s, read_only=False) for s in Step),
            *tls_mounts(None),
        ],
        depends_on={"openbao": {"condition": "service_started"}},
        restart="no",
    )


def tls_bootstrap() -> dict[str, Any]:
    """OpenBao's throwaway first certificate, offline (``network_mode: none``)."""
    gid = str(SERVER_GIDS[tls.OPENBAO.name])
    return project_service(
        [
            *SETUP,
            "tls-bootstrap",
            *flags(
                ("--out-dir", f"{PKI_DIR}/{tls.OPENBAO.name}"),
                ("--ca-file", f"{PKI_DIR}/ca/{tls.BOOTSTRAP_CA_FILE}"),
                ("--group", gid),
            ),
        ],
        network_mode="none",
        group_add=[gid],
        volumes=_pki_volumes(tls.OPENBAO),
        restart="no",
    )


def pki() -> dict[str, Any]:
    """Vault PKI and every server's certificate (the root token)."""
    certs = [a for spec in tls.COMPOSE_SPECS for a in ("--cert", spec.name)]
    groups = [a for name, gid in SERVER_GIDS.items() for a in ("--group", f"{name}={gid}")]
    vault = _vault(f"{PKI_DIR}/ca", step=Step.PKI)
    return project_service(
        # It mounts the CA volume writable, where it writes the root CA.
        [*SETUP, "pki", *vault, "--out-dir", PKI_DIR, *certs, *groups],
        networks=service_networks("pki"),
        # Only the servers' own groups: each key is written 0640 with one of them.
        group_add=sorted({str(g) for g in SERVER_GIDS.values()}),
        volumes=[_step_token(Step.PKI), *_pki_volumes(*tls.COMPOSE_SPECS)],
        depends_on={**healthy("openbao"), **done("openbao-init")},
        restart="no",
    )


def setup() -> dict[str, Any]:
    """Database bootstrap (superuser over the socket), ``vault/`` applied, OIDC clients."""
    return project_service(
        [
            *SETUP,
            "configure",
            *_vault(step=Step.CONFIGURE),
            *flags(
                ("--kubernetes-host", compose_networks.IDENTITY_URL),
                ("--kubernetes-ca-file", f"{COMPOSE_IDENTITY_DIR}/ca.crt"),
                ("--pg-host", pki_names.Server.POSTGRES.value),
                ("--pg-ca-file", tls.CA_PATH),
                ("--pg-superuser-socket-dir", PG_SOCKET_DIR),
                ("--vault-pg-ca-file", tls.CA_PATH),
                ("--pg-superuser-password-file", "/run/secrets/postgres-password"),
                ("--db-admin-password-file", "/run/secrets/vault-dbadmin-password"),
                ("--ui-secret-dir", people_auth.UI_SECRET_DIR),
                ("--ui-secret-group", str(TEMPORAL_GID)),
            ),
            *people_auth.setup_args(COMPOSE_PEOPLE, people_auth.OIDC_DIR),
        ],
        networks=service_networks("setup"),
        # The UI's group only: its client secret is written 0640 with it.
        group_add=[str(TEMPORAL_GID)],
        secrets=["postgres-password", "vault-dbadmin-password"],
        volumes=[
            _step_token(Step.CONFIGURE),
            subpath_mount("identity-state", "identity/ca.crt", f"{COMPOSE_IDENTITY_DIR}/ca.crt"),
            {"type": "volume", "source": "oidc-clients", "target": people_auth.OIDC_DIR},
            {"type": "volume", "source": UI_SECRET_VOLUME, "target": people_auth.UI_SECRET_DIR},
            {"type": "volume", "source": PG_SOCKET_VOLUME, "target": PG_SOCKET_DIR},
            *tls_mounts(None),
        ],
        # The identity endpoint has written its CA (Vault's Kubernetes auth trusts it).
        depends_on={
            **healthy("openbao", "postgres", compose_networks.IDENTITY_SERVICE),
            **done("openbao-init", "pki"),
        },
        restart="no",
    )


def _temporal_admin_step(step: Step, name: str, depends_on: dict[str, Any]) -> dict[str, Any]:
    """A step acting as ``temporal-admin`` through the front (its own token, OpenBao, front)."""
    return project_service(
        [
            *SETUP,
            step.value,
            *_vault(step=step),
            *flags(("--temporal-address", COMPOSE_TEMPORAL), ("--temporal-ca-file", tls.CA_PATH)),
        ],
        networks=service_networks(name),
        volumes=[_step_token(step), *tls_mounts(None)],
        depends_on=depends_on,
        restart="no",
    )


def namespace_step() -> dict[str, Any]:
    """Registers the Temporal namespace once Temporal answers (via the front)."""
    # After `setup` applied the admin token role, once Temporal answers (via the front).
    deps = {**healthy("openbao", front.NAME), **done("setup")}
    return _temporal_admin_step(Step.NAMESPACE, NAMESPACE_STEP, deps)


def promote_step(workflow_workers: list[str]) -> dict[str, Any]:
    """Makes this image's workflow version current once its workers poll (healthy = polling).

    The worker services are in ``docker-compose.yml``, so is this step (it runs from the
    same image as they do: the build ID both compute is the image's own).
    """
    deps = {**healthy("openbao", front.NAME, *workflow_workers), **done(NAMESPACE_STEP)}
    return _temporal_admin_step(Step.PROMOTE, PROMOTE_STEP, deps)


SECRETS: Final = (
    "postgres-password",
    "temporal-db-password",
    "vault-dbadmin-password",
    front.TOKEN_KEY,
)
"""Compose secrets: files under ``.orders/compose/secrets`` (``make compose-secrets``)."""
VOLUMES: Final = (
    "postgres-data",
    PG_SOCKET_VOLUME,
    "temporal-db-data",
    "temporal-config",
    "temporal-ui-config",
    UI_SECRET_VOLUME,
    "identity-state",
    "openbao-data",
    "openbao-init",
    *(step_volume(s) for s in Step),
    "oidc-clients",
    "tls-ca",
    *(spec.volume for spec in tls.COMPOSE_SPECS),
)


def infra() -> dict[str, Any]:
    """``docker-compose.infra.yml``: the servers, the setup steps and every shared resource."""
    services: dict[str, Any] = {
        "postgres": orders_postgres(),
        "temporal-db": temporal_db(),
        "temporal": temporal(),
        temporal_schema.NAME: temporal_schema.compose_service(user=TEMPORAL_UID_STR),
        NAMESPACE_STEP: namespace_step(),
        "temporal-ui": temporal_ui(),
        compose_networks.IDENTITY_SERVICE: identity_endpoint(),
        compose_networks.INGRESS_SERVICE: compose_networks.ingress(),
        "openbao": openbao(),
        "openbao-init": openbao_init(),
        "tls-bootstrap": tls_bootstrap(),
        "pki": pki(),
        "setup": setup(),
        **front.compose_services(COMPOSE_PEOPLE),
    }
    return {
        "x-hardened": HARDENED,
        "x-project": PROJECT,
        "x-probe": PROBE,
        "x-tls-ca": TLS_CA,
        "services": services,
        "networks": compose_networks.compose_networks(),
        "volumes": {v: {} for v in VOLUMES},
        "secrets": {s: {"file": f".orders/compose/secrets/{s}"} for s in SECRETS},
        "configs": {
            "openbao-config": {"file": compose_source(OPENBAO_HCL)},
            "postgres-hba": {"file": compose_source(PG_HBA_FILE)},
            "tls-reload": {"file": compose_source(tls.RELOAD_SCRIPT)},
        },
    }
