"""The setup steps that act on Temporal as ``temporal-admin``: ``namespace`` and ``promote``.

Both get their admin credentials the same way, with the step's own OpenBao token (handed
over by ``unseal``, :mod:`orders.deploy.setup_tokens`): a namespace-admin JWT minted for
this step only (:func:`orders.vault.tokens.mint_admin_token`) and a minutes-long
``temporal-admin`` client certificate (:func:`orders.security.certs.issue_temporal_admin`),
both kept in memory; the step revokes its token when done.

``namespace``
    Once Temporal is healthy and before any worker: register the application namespace
    (:mod:`orders.deploy.temporal_namespace`) through the authorization front. Idempotent.
``promote``
    Once the workflow workers poll: make their Worker Deployment version current
    (:func:`orders.rollout.promote_when_polled`), so that new runs reach them; runs pinned
    to an older version stay there. The version is this image's build ID
    (:func:`orders.rollout.code_build_id`: the digest of the source baked into the image,
    which the workers of the same image compute identically), or ``--build-id`` (a roll
    back). Idempotent: a version already current is left alone.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from orders.contract import identities, pki_names
from orders.contract.identities import Identity, Kind

if TYPE_CHECKING:
    from temporalio.service import ServiceClient, TLSConfig

log = structlog.get_logger(__name__)

PROMOTE_WAIT_SECONDS = 300.0
"""How long ``promote`` waits for the version's first poll (workers start in seconds; a
kind node pulling and starting pods is slower)."""


def admin_credentials(args: argparse.Namespace) -> tuple[TLSConfig, str]:
    """The step's ``temporal-admin`` TLS config and admin JWT, from its own OpenBao token."""
    from orders import temporal
    from orders.deploy.setup import _step_client, _verify
    from orders.security import certs
    from orders.vault import tokens as vault_tokens

    root = _step_client(args)
    jwt = vault_tokens.mint_admin_token(root, _verify(args.vault_ca_file))
    cert = certs.issue_temporal_admin(root)
    config = temporal.tls_config(
        args.temporal_ca_file.read_bytes(), args.temporal_server_name, cert
    )
    return config, jwt


def namespace(args: argparse.Namespace) -> str:
    """Register the Temporal namespace with the admin JWT (see the module docstring)."""
    from orders.deploy import temporal_namespace

    config, jwt = admin_credentials(args)
    return asyncio.run(
        temporal_namespace.register(args.temporal_address, args.namespace, tls=config, api_key=jwt)
    )


def workflow_identities() -> tuple[Identity, ...]:
    """The identities whose workers are versioned: the workflow workers."""
    return tuple(i for i in identities.workers() if i.kind is Kind.WORKFLOW)


async def promote_all(
    service: ServiceClient, namespace: str, build: str, wait_seconds: float
) -> dict[str, str]:
    """Make ``build`` current for every workflow deployment that is not on it yet.

    Args:
        service: Temporal as ``temporal-admin``.
        namespace: The Temporal namespace.
        build: The build ID to make current.
        wait_seconds: How long to wait for each version's first poll.

    Returns:
        Deployment -> what was done (``already current``, or the build it replaced).

    Raises:
        orders.rollout.VersionNotPolledError: A version had no poller within the wait.
    """
    from orders import rollout

    done: dict[str, str] = {}
    for ident in workflow_identities():
        try:
            state = await rollout.describe(service, namespace, ident)
        except rollout.VersionNotPolledError:
            state = None  # no versioned worker yet: promote_when_polled waits for one
        if state is not None and state.current == build:
            done[ident.worker_deployment] = "already current"
        else:
            previous = await rollout.promote_when_polled(
                service, namespace, ident, build, timeout=wait_seconds
            )
            done[ident.worker_deployment] = f"was {previous or 'unversioned'}"
        log.info(
            "rollout.current",
            deployment=ident.worker_deployment,
            build_id=build,
            result=done[ident.worker_deployment],
        )
    return done


def promote(args: argparse.Namespace) -> dict[str, str]:
    """Make this image's workflow version current once it polls (see the module docstring).

    Raises:
        SystemExit: No worker of the version polled in time (the message names it).
    """
    from temporalio.service import ConnectConfig, ServiceClient

    from orders import rollout

    build = args.build_id or rollout.code_build_id()
    config, jwt = admin_credentials(args)

    async def go() -> dict[str, str]:
        service = await ServiceClient.connect(
            ConnectConfig(target_host=args.temporal_address, tls=config, api_key=jwt)
        )
        return await promote_all(service, args.namespace, build, args.wait_seconds)

    try:
        return asyncio.run(go())
    except rollout.VersionNotPolledError as exc:
        raise SystemExit(f"promote: {exc}") from None


def add_parsers(steps: Any, token_help: str) -> None:
    """The ``namespace`` and ``promote`` sub-commands (``steps``: the subparsers)."""
    for name, text in (
        ("namespace", "register the Temporal namespace (admin JWT)"),
        ("promote", "make this image's workflow worker version current once it polls"),
    ):
        step = steps.add_parser(name, help=text)
        step.add_argument("--vault-addr", required=True)
        step.add_argument("--token-file", type=Path, required=True, help=token_help)
        step.add_argument("--vault-ca-file", type=Path, action="append")
        step.add_argument("--temporal-address", required=True, help="host:port of the front")
        step.add_argument("--temporal-ca-file", type=Path, required=True, help="the Vault root CA")
        step.add_argument("--temporal-server-name", default=pki_names.Server.TEMPORAL.value)
        step.add_argument("--namespace", default=identities.TEMPORAL_NAMESPACE)
        if name == "promote":
            step.add_argument(
                "--build-id", help="the version to make current (default: this image's)"
            )
            step.add_argument(
                "--wait-seconds",
                type=float,
                default=PROMOTE_WAIT_SECONDS,
                help="how long to wait for the version's workers to poll",
            )
