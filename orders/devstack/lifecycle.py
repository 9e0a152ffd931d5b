"""What the stack does to its state around its processes: apply ``vault/``, migrate, clean up.

Used by the supervisor at start and stop, and by ``orders dev apply`` on a running stack.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import hvac

from orders import logging as olog
from orders.contract import identities
from orders.db.engine import tls_query
from orders.db.migrate import upgrade_as_migrate_identity
from orders.devstack import servers
from orders.devstack.identity_env import identity_settings
from orders.devstack.state import StackInfo, StackPaths
from orders.vault import metrics_reader
from orders.vault.config import ApplyConfig, Ttls
from orders.vault.people import CODEC_CALLBACK_PATH, OidcConfig

log = olog.get(__name__)

DYNAMIC_ROLES_SQL = "SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-%' ORDER BY 1"


def stack_apply_config(
    paths: StackPaths,
    identity_url: str,
    identity_ca_pem: str,
    pg_port: int,
    ttls: Ttls,
    codec_url: str | None,
) -> ApplyConfig:
    """How the local stack applies ``vault/``: Kubernetes auth at the identity endpoint.

    ``codec_url`` is the codec server's address: its login callback is the codec client's
    registered redirect URI, on every apply (a re-apply without it would unregister it).
    """
    redirects = (codec_url + CODEC_CALLBACK_PATH,) if codec_url else ()
    return ApplyConfig(
        kubernetes_host=identity_url,
        kubernetes_ca_pem=identity_ca_pem,
        db_connection_url=(
            f"postgresql://{{{{username}}}}:{{{{password}}}}@{servers.HOST}:{pg_port}/"
            f"{identities.DB_NAME}{tls_query(paths.ca_file if paths.ca_file.exists() else None)}"
        ),
        db_admin_username=identities.VAULT_DB_ADMIN_ROLE,
        db_admin_password=paths.secret("vault-dbadmin-password"),
        ttls=ttls,
        oidc=OidcConfig(codec_redirect_uris=redirects),
    )


async def migrate(info: StackInfo, paths: StackPaths) -> None:
    """Run alembic as the ``order-migrate`` identity: its own token, login and credential."""
    settings = identity_settings(info, paths, identities.ORDER_MIGRATE)
    db_user = await upgrade_as_migrate_identity(settings)
    log.info("db.migrated", db_user=db_user)


def revoke_all(info: StackInfo) -> dict[str, Any]:
    """Revoke every lease and login token, and the scrape tokens (root, at shutdown)."""
    client = hvac.Client(
        url=info.vault_addr, token=info.root_token(), verify=info.verify, timeout=30
    )
    counts: dict[str, Any] = {}
    prefixes = ("database/creds", "auth/kubernetes/login", "auth/userpass/login")
    for prefix in (*prefixes, metrics_reader.TOKEN_PREFIX):
        try:
            client.sys.revoke_prefix(prefix)
            counts[f"revoked:{prefix}"] = "ok"
        except hvac.exceptions.VaultError as exc:
            counts[f"revoked:{prefix}"] = f"error: {type(exc).__name__}"
    return counts


async def leftover_roles(info: StackInfo) -> dict[str, Any]:
    """Count dynamic roles still in Postgres after revocation (should be 0)."""
    conn = await asyncpg.connect(info.postgres_admin_dsn, timeout=10)
    try:
        rows = await conn.fetch(DYNAMIC_ROLES_SQL)
        return {"leftover_dynamic_roles": [r["rolname"] for r in rows]}
    finally:
        await conn.close()


async def make_current(
    info: StackInfo, paths: StackPaths, workers: list[identities.Identity]
) -> dict[str, str]:
    """Make each versioned worker's version current, as the operator (``temporal-admin``).

    Workflow workers poll as a Worker Deployment version and receive new runs only once it
    is current: the stack promotes what it just started, as an operator would after a
    rollout. Runs pinned to an older build (a stack restarted with changed code) stay there.

    Returns:
        Deployment -> the build ID now current.
    """
    from orders import rollout
    from orders.devstack import actas

    versioned = [
        (ident, settings)
        for ident in workers
        if rollout.deployment_config(ident, settings := identity_settings(info, paths, ident))
    ]
    if not versioned:
        return {}
    service = await actas.operator_service(info, paths)
    promoted = {}
    for ident, settings in versioned:
        build = rollout.build_id(settings)
        previous = await rollout.promote_when_polled(service, info.namespace, ident, build)
        log.info("rollout.current", deployment=ident.worker_deployment, build_id=build,
                 previous=previous or "")  # fmt: skip
        promoted[ident.worker_deployment] = build
    return promoted
