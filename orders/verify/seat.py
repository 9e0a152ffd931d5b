"""Acting as an identity on a target: its ServiceAccount token, Vault login, Temporal client.

The checks hold exactly what the identity's worker holds: a token for its ServiceAccount
(audience ``vault``) from the target's token source, the Vault login that token allows,
and what that login issues (database credential, client certificate, Temporal JWT).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import hvac
from temporalio.client import Client

from orders.contract import identities, temporal_access
from orders.contract.identities import Identity
from orders.files import write_private
from orders.security.identity_client import seat
from orders.settings import WorkerSettings
from orders.verify.target import DevstackTokens, FileTokens, KubectlTokens, Target


class TokenSourceError(RuntimeError):
    """The target's token source could not produce a token for an identity."""


def service_account_token(target: Target, identity: Identity) -> str:
    """A fresh ServiceAccount token of ``identity`` from the target's token source.

    Raises:
        TokenSourceError: The source refused or has no token for ``identity``.
    """
    source = target.identity_tokens
    if isinstance(source, DevstackTokens):
        from orders.devstack import actas
        from orders.devstack.state import StackInfo, StackPaths

        paths = StackPaths(source.home)
        return actas.projected_token(StackInfo.load(paths), paths, identity)
    if isinstance(source, KubectlTokens):
        return _kubectl_token(source, identity)
    assert isinstance(source, FileTokens)
    path = source.files.get(identity.name)
    if path is None:
        raise TokenSourceError(f"identity_tokens.files has no token for {identity.name}")
    return path.read_text().strip()


def kubectl_token_args(source: KubectlTokens, identity: Identity) -> list[str]:
    """The ``kubectl create token`` command line for ``identity`` (no secret in it)."""
    context = ["--context", source.context] if source.context else []
    return [
        source.kubectl, *context, "-n", source.namespace, "create", "token",
        identity.service_account, "--audience", source.audience,
        "--duration", f"{source.seconds}s",
    ]  # fmt: skip


def _kubectl_token(source: KubectlTokens, identity: Identity) -> str:
    try:
        done = subprocess.run(
            kubectl_token_args(source, identity),
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except OSError as exc:
        raise TokenSourceError(f"kubectl: {exc.strerror}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise TokenSourceError(f"kubectl create token {identity.service_account}: {last}")
    return done.stdout.strip()


def vault_client(target: Target, token: str | None = None) -> hvac.Client:
    """An hvac client of the target's Vault."""
    return hvac.Client(
        url=target.vault.address, token=token, timeout=10, verify=target.vault_verify
    )


def login(target: Target, role: str, jwt: str) -> hvac.Client:
    """Kubernetes-auth login as ``role`` with ``jwt``; hvac errors when Vault refuses."""
    client = vault_client(target)
    client.auth.kubernetes.login(role, jwt)
    return client


def login_as(target: Target, identity: Identity) -> hvac.Client:
    """Log in as ``identity`` with a fresh token of its own ServiceAccount."""
    return login(target, identity.vault_role, service_account_token(target, identity))


def worker_settings(target: Target, identity: Identity, token_file: Path) -> WorkerSettings:
    """The settings ``identity``'s worker would run with on this target."""
    return WorkerSettings(
        identity=identity.name,
        temporal_address=target.temporal.address,
        temporal_namespace=target.temporal.namespace,
        temporal_tls_ca_file=target.temporal.ca_file,
        temporal_tls_server_name=target.temporal.server_name,
        temporal_token=bool(temporal_access.temporal_permissions(identity)),
        vault_addr=target.vault.address,
        vault_cacert=target.vault.ca_file,
        token_file=token_file,
    )


@contextlib.asynccontextmanager
async def temporal_client(
    target: Target, identity: Identity = identities.ORDER_CLIENT
) -> AsyncIterator[Client]:
    """A Temporal client holding what ``identity``'s worker holds, with its payload codec.

    Its token goes to a private temporary file (as a projected volume would hold it); the
    Vault session, client certificate and Temporal JWT are renewed while the client lives,
    and the Vault token is revoked on exit.
    """
    token = await asyncio.to_thread(service_account_token, target, identity)
    with tempfile.TemporaryDirectory(prefix="orders-verify-") as tmp:
        token_file = Path(tmp) / "token"
        write_private(token_file, token)
        settings = worker_settings(target, identity, token_file)
        async with seat(identity, settings, attempts=3) as held:
            yield held.client
