"""Add identities to a *running* dev stack: apply the contract, run a new identity's worker.

``orders dev up`` derives everything from the contract when it starts. After ``orders new``
the running stack can catch up without a restart:

* :func:`apply_contract` (``orders dev apply``) re-runs, idempotently and in the order
  ``orders dev up`` uses, the bootstrap (group roles, as the superuser), ``vault/``
  (policies and roles; the TTLs the stack was started with are kept) and the migrations
  (as ``order-migrate``).
* :func:`worker_settings` (``orders dev worker``) prepares a worker for an identity the
  running identity endpoint does not know yet (it loads its ServiceAccounts at start-up):
  acting as the cluster admin, it signs the identity's projected token with the endpoint's
  own key and writes it where a pod would find it. The worker then logs in to Vault exactly
  like any other; Vault still reviews the token against the endpoint.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Final

import hvac

from orders import identities
from orders.db.bootstrap import bootstrap
from orders.devstack.identity_endpoint import IdentityState, issue_token
from orders.devstack.state import StackInfo, StackPaths
from orders.devstack.supervisor import migrate, stack_apply_config
from orders.identities import Identity
from orders.security.k8s_token import write_token
from orders.settings import WorkerSettings
from orders.vault_config import DB_MOUNT, K8S_MOUNT, Ttls, apply

TOKEN_SECONDS: Final = 3600
"""Lifetime of a minted projected token; re-minted at half of it while the worker runs."""


def running_ttls(root: hvac.Client) -> Ttls:
    """The TTLs the stack was started with, read back from the migrate identity's roles."""
    ident = identities.ORDER_MIGRATE
    db = root.read(f"{DB_MOUNT}/roles/{ident.db_role}")["data"]
    k8s = root.read(f"auth/{K8S_MOUNT}/role/{ident.vault_role}")["data"]
    return Ttls(
        db_default=int(db["default_ttl"]),
        db_max=int(db["max_ttl"]),
        token=int(k8s["token_ttl"]),
        token_max=int(k8s["token_max_ttl"]),
    )


async def apply_contract(info: StackInfo, paths: StackPaths) -> list[str]:
    """Bootstrap, apply ``vault/`` and migrate the running stack from the current contract.

    Returns:
        The Vault paths written.
    """
    root = hvac.Client(url=info.vault_addr, token=info.root_token(), timeout=30)
    ttls = await asyncio.to_thread(running_ttls, root)
    # None: Vault holds the (rotated) admin password; the bootstrap must not reset it.
    await bootstrap(info.postgres_admin_dsn, None)
    config = stack_apply_config(
        paths,
        info.identity_endpoint,
        Path(info.identity_ca_file).read_text(),
        info.postgres_port,
        ttls,
    )
    written = await asyncio.to_thread(apply, root, config)
    await migrate(info, paths)
    return written


def mint_projected_token(info: StackInfo, paths: StackPaths, identity: Identity) -> Path:
    """Sign ``identity``'s projected token (audience vault) and write it to its token file."""
    state = IdentityState.load_or_create(
        paths.identity, info.identity_endpoint, [identity.service_account]
    )
    issued = issue_token(
        state, identity.service_account, [identities.VAULT_AUDIENCE], TOKEN_SECONDS
    )
    path = paths.token_file(identity.name)
    write_token(path, issued.token)
    return path


def worker_settings(info: StackInfo, paths: StackPaths, identity: Identity) -> WorkerSettings:
    """Settings of ``identity``'s worker on the running stack, its token minted and kept fresh.

    Raises:
        ValueError: If ``identity`` runs no worker.
    """
    if not identity.is_worker:
        raise ValueError(f"{identity.name} runs no worker")
    token_file = mint_projected_token(info, paths, identity)

    def refresh() -> None:
        # As the kubelet does for a projected volume: replace the token well before expiry.
        while True:
            threading.Event().wait(TOKEN_SECONDS / 2)
            mint_projected_token(info, paths, identity)

    threading.Thread(target=refresh, name="token-refresh", daemon=True).start()
    return WorkerSettings(
        identity=identity.name,
        temporal_address=info.temporal_address,
        temporal_namespace=info.namespace,
        vault_addr=info.vault_addr,
        token_file=token_file,
        db_host=info.postgres_host,
        db_port=info.postgres_port,
        db_name=info.database,
        k8s_host=None,  # the token file is kept fresh here, not requested from the endpoint
    )
