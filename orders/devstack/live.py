"""Add identities to a *running* dev stack: apply the contract, run a new identity's worker.

``orders dev up`` derives everything from the contract when it starts. After ``orders new``
the running stack can catch up without a restart:

* :func:`apply_contract` (``orders dev apply``) re-runs, idempotently and in the order
  ``orders dev up`` uses, the bootstrap (group roles, as the superuser), ``vault/``
  (policies and roles; the TTLs the stack was started with are kept) and the migrations
  (as ``order-migrate``).
* :func:`worker_settings` (``orders dev worker``) prepares a worker for an identity added
  after start-up: as the cluster admin, it creates the identity's ServiceAccount (which
  the running identity endpoint serves on first use); the worker then requests its
  projected token and logs in to Vault exactly like the stack's own workers.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import hvac

from orders.contract import identities
from orders.contract.identities import Identity
from orders.db.bootstrap import bootstrap
from orders.devstack.identity_endpoint import create_service_account
from orders.devstack.identity_env import identity_settings
from orders.devstack.lifecycle import migrate, stack_apply_config
from orders.devstack.servers import FRONT_RULES
from orders.devstack.state import StackInfo, StackPaths
from orders.front import rules as front_rules
from orders.settings import WorkerSettings
from orders.vault.config import DB_MOUNT, K8S_MOUNT, Ttls, apply


def running_ttls(root: hvac.Client) -> Ttls:
    """The TTLs the stack was started with, read back from the migrate identity's roles."""
    ident = identities.ORDER_MIGRATE
    db = root.read(f"{DB_MOUNT}/roles/{ident.db_role}")["data"]
    k8s = root.read(f"auth/{K8S_MOUNT}/role/{ident.vault_role}")["data"]
    jwt = root.read(f"identity/oidc/role/{identities.ORDER_CLIENT.temporal_token_role}")
    return Ttls(
        db_default=int(db["default_ttl"]),
        db_max=int(db["max_ttl"]),
        token=int(k8s["token_ttl"]),
        token_max=int(k8s["token_max_ttl"]),
        **({"temporal_token": int(jwt["data"]["ttl"])} if jwt else {}),
    )


async def apply_contract(info: StackInfo, paths: StackPaths) -> list[str]:
    """Bootstrap, apply ``vault/``, migrate, and install the package's rules for the front.

    Returns:
        The Vault paths written.
    """
    root = hvac.Client(url=info.vault_addr, token=info.root_token(), timeout=30, verify=info.verify)
    ttls = await asyncio.to_thread(running_ttls, root)
    # None: Vault holds the (rotated) admin password; the bootstrap must not reset it.
    await bootstrap(info.postgres_admin_dsn, None)
    config = stack_apply_config(
        paths,
        info.identity_endpoint,
        Path(info.identity_ca_file).read_text(),
        info.postgres_port,
        ttls,
        info.codec_server_url,
    )
    written = await asyncio.to_thread(apply, root, config)
    await migrate(info, paths)
    # The running front re-reads its rules file: identities added by ``orders new`` (which
    # re-renders the package's rules) may now call Temporal.
    front_rules.install(paths.dev / FRONT_RULES)
    return written


def worker_settings(info: StackInfo, paths: StackPaths, identity: Identity) -> WorkerSettings:
    """Settings of ``identity``'s worker on the running stack, its ServiceAccount created.

    The same settings as the stack's own workers (:func:`identity_settings`), with the
    token file a new identity would have had in ``stack.json``. The worker then requests
    its projected token from the identity endpoint with its ServiceAccount's credential.

    Raises:
        ValueError: If ``identity`` runs no worker.
    """
    if not identity.is_worker:
        raise ValueError(f"{identity.name} runs no worker")
    create_service_account(paths.identity, identity.service_account)
    token_files = {**info.token_files, identity.name: str(paths.token_file(identity.name))}
    return identity_settings(info.model_copy(update={"token_files": token_files}), paths, identity)
