"""Register the application's Temporal namespace on an authorizing server, idempotently.

The ``temporalio/server`` image registers no namespace (the deprecated ``auto-setup``
would have, without a token, which the ``default`` authorizer denies), so the deployment's
setup step calls this module once Temporal is healthy and before any
worker starts. The call carries a namespace-admin JWT minted by OpenBao for this step only
(:func:`orders.vault.tokens.mint_admin_token`) and, against an mTLS frontend, a client
certificate. No payload is exchanged, so this is a bare service client, not the codec-bound
:func:`orders.temporal.connect`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.service import ConnectConfig, RPCError, RPCStatusCode, ServiceClient, TLSConfig

from orders import logging as olog
from orders import temporal

log = olog.get(__name__)

RETENTION: Final = timedelta(days=3)
"""How long closed workflows' histories are kept (replay tests and evidence read them)."""
REGISTERED: Final = "registered"
EXISTS: Final = "exists"


async def _connect(
    address: str, tls: TLSConfig | None, api_key: str | None, attempts: int
) -> ServiceClient:
    return await temporal.while_coming_up(
        lambda: ServiceClient.connect(
            ConnectConfig(target_host=address, tls=tls or False, api_key=api_key)
        ),
        attempts,
    )


async def register(
    address: str,
    namespace: str,
    *,
    tls: TLSConfig | None = None,
    api_key: str | None = None,
    retention: timedelta = RETENTION,
    attempts: int = 60,
) -> str:
    """Register ``namespace`` unless it exists.

    Args:
        address: ``host:port`` of the frontend.
        namespace: The namespace to register.
        tls: Server CA, server name and client certificate; None for a plaintext frontend.
        api_key: The namespace-admin JWT, sent as ``authorization: Bearer``.
        retention: Workflow execution retention of a newly registered namespace.
        attempts: One-second-spaced connection tries while the frontend comes up.

    Returns:
        :data:`REGISTERED` or :data:`EXISTS`.

    Raises:
        RPCError: Any refusal other than "already exists" (e.g. permission denied).
    """
    client = await _connect(address, tls, api_key, attempts)
    request = RegisterNamespaceRequest(
        namespace=namespace,
        description="Hardened order processing (registered by the setup step).",
        workflow_execution_retention_period=Duration(seconds=int(retention.total_seconds())),
    )
    try:
        await client.workflow_service.register_namespace(request)
    except RPCError as exc:
        if exc.status is RPCStatusCode.ALREADY_EXISTS:
            log.info("temporal.namespace", namespace=namespace, result=EXISTS)
            return EXISTS
        raise
    log.info("temporal.namespace", namespace=namespace, result=REGISTERED)
    return REGISTERED
