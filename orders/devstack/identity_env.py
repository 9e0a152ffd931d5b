"""The ``ORDERS_*`` settings of a process acting as one identity in the dev stack.

Kept apart from the supervisor so that tools acting as an identity (the CLI, tests, the
demo) do not import every server the supervisor manages: the CLI starts faster.
"""

from __future__ import annotations

from orders import rollout
from orders.contract import identities, temporal_access
from orders.devstack.state import StackInfo, StackPaths
from orders.settings import WorkerSettings


def worker_env(info: StackInfo, paths: StackPaths, identity: identities.Identity) -> dict[str, str]:
    """``ORDERS_*`` environment of a process running as ``identity`` in this stack."""
    return {
        "ORDERS_IDENTITY": identity.name,
        "ORDERS_TEMPORAL_ADDRESS": info.temporal_address,
        "ORDERS_TEMPORAL_NAMESPACE": info.namespace,
        "ORDERS_VAULT_ADDR": info.vault_addr,
        **(
            {"ORDERS_VAULT_CACERT": info.ca_file, "ORDERS_DB_SSL_CA_FILE": info.ca_file}
            if info.ca_file
            else {}
        ),
        **(
            {
                "ORDERS_TEMPORAL_TLS_CA_FILE": info.ca_file,
                "ORDERS_TEMPORAL_TLS_SERVER_NAME": info.temporal_server_name,
            }
            if info.ca_file and info.temporal_server_name
            else {}
        ),
        "ORDERS_TOKEN_FILE": info.token_files[identity.name],
        "ORDERS_K8S_HOST": info.identity_endpoint,
        "ORDERS_K8S_CA_FILE": info.identity_ca_file,
        "ORDERS_K8S_CLIENT_TOKEN_FILE": str(
            paths.identity / "clients" / f"{identity.service_account}.token"
        ),
        "ORDERS_DB_HOST": info.postgres_host,
        "ORDERS_DB_PORT": str(info.postgres_port),
        "ORDERS_DB_NAME": info.database,
        "ORDERS_TRACE_FILE": str(paths.trace_file(identity.name)),
        # Workflow workers poll as a Worker Deployment version of this code; `orders dev
        # up` makes it current (docs/evolving-workflows.md).
        "ORDERS_WORKER_VERSIONING": "true",
        "ORDERS_BUILD_ID": rollout.code_build_id(),
        # The dev server ignores the token; presenting it anyway runs the real path.
        **(
            {"ORDERS_TEMPORAL_TOKEN": "true"}
            if temporal_access.temporal_permissions(identity)
            else {}
        ),
    }


def identity_settings(
    info: StackInfo, paths: StackPaths, identity: identities.Identity
) -> WorkerSettings:
    """WorkerSettings for running as ``identity`` from a tool (migrations, tests, demo)."""
    env = worker_env(info, paths, identity)
    return WorkerSettings.model_validate(
        {k.removeprefix("ORDERS_").lower(): v for k, v in env.items()}
    )
