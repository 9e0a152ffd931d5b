"""Act as one identity against the local stack, for evidence (demo) and negative tests.

Only tools with access to ``.orders/`` (the cluster admin's seat) can do this: they play
the kubelet for an identity, exactly as that identity's worker does.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Final

import hvac
from temporalio.client import Client
from temporalio.service import ConnectConfig, ServiceClient, TLSConfig

from orders import temporal
from orders.contract import identities
from orders.contract.identities import Identity
from orders.devstack.identity_env import identity_settings
from orders.devstack.state import StackInfo, StackPaths
from orders.files import write_private
from orders.security import certs
from orders.security.identity_client import Person, Seat, seat
from orders.security.k8s_token import TokenProjector, read_token
from orders.vault import tokens as vault_tokens
from orders.vault.tokens import token_path


def projected_token(stack: StackInfo, paths: StackPaths, identity: Identity) -> str:
    """A real projected token for ``identity``, via TokenRequest through the k8s client."""
    projector = TokenProjector.from_settings(identity_settings(stack, paths, identity), identity)
    projector.refresh()
    return read_token(stack.token_files[identity.name])


def login(stack: StackInfo, role: str, jwt: str) -> hvac.Client:
    """Kubernetes-auth login as ``role``; raises hvac errors when Vault refuses."""
    client = hvac.Client(url=stack.vault_addr, timeout=10, verify=stack.verify)
    client.auth.kubernetes.login(role, jwt)
    return client


def login_as(stack: StackInfo, paths: StackPaths, identity: Identity) -> hvac.Client:
    """Log in as ``identity`` with its own projected token (a login that must succeed).

    Retried twice: once in six full test runs OpenBao refused such a self-login right after
    start-up without reviewing the token (cause not yet found). Refusals that tests expect
    go through :func:`login`, which never retries.
    """
    for attempt in range(3):
        try:
            return login(stack, identity.vault_role, projected_token(stack, paths, identity))
        except hvac.exceptions.Forbidden:
            if attempt == 2:
                raise
            time.sleep(1.0)
    raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def temporal_client(
    stack: StackInfo,
    paths: StackPaths,
    identity: Identity = identities.ORDER_CLIENT,
    *,
    person_token: str | None = None,
) -> AsyncIterator[Client]:
    """A Temporal client acting as ``identity``: its own token, Vault login and codec.

    With the stack's ``temporal_token`` setting the client carries the identity's own
    Temporal JWT, renewed while the client lives. On exit the Vault token is revoked.

    With ``person_token`` (a person's ID token from the OIDC provider) the client reaches
    Temporal as that person instead, on the front's persons' port (no client certificate);
    payloads are still sealed and encrypted with ``identity``'s Vault access.
    """
    async with acting(stack, paths, identity, person_token=person_token) as act:
        yield act.client


@contextlib.asynccontextmanager
async def acting(
    stack: StackInfo,
    paths: StackPaths,
    identity: Identity,
    *,
    person_token: str | None = None,
) -> AsyncIterator[Seat]:
    """As :func:`temporal_client`, also yielding the identity's Vault session and settings.

    For a tool that needs more of the identity than Temporal (its Postgres role through
    ``orders.db.engine.create_engine``, its Transit client): one login for all of it.
    """
    settings = identity_settings(stack, paths, identity)
    await asyncio.to_thread(TokenProjector.from_settings(settings, identity).refresh)
    person: Person | None = None
    if person_token is not None:
        assert stack.temporal_people_address, "the stack has no persons' port"
        person = Person(stack.temporal_people_address, person_token)
    async with seat(identity, settings, person=person) as held:
        yield held


def _operator_credentials(stack: StackInfo, paths: StackPaths) -> tuple[TLSConfig, str | None]:
    root = hvac.Client(
        url=stack.vault_addr, token=stack.root_token(), timeout=30, verify=stack.verify
    )
    assert stack.ca_file
    assert stack.temporal_server_name
    cert = certs.issue_temporal_admin(root)
    config = temporal.tls_config(Path(stack.ca_file).read_bytes(), stack.temporal_server_name, cert)
    # Present the principal's own JWT where the stack's identities present theirs.
    wants_token = identity_settings(stack, paths, identities.ORDER_CLIENT).temporal_token
    jwt = vault_tokens.mint_admin_token(root, stack.verify) if wants_token else None
    return config, jwt


async def operator_service(stack: StackInfo, paths: StackPaths) -> ServiceClient:
    """A bare Temporal service client as the ``temporal-admin`` principal: the operator's seat.

    Its minutes-long certificate (and JWT) are issued with the stack's root token, as the
    compose/kind setup step does for the namespace: only someone holding ``.orders/`` can
    act as it. No payload crosses its calls (worker deployments), so it has no codec.
    """
    tls, jwt = await asyncio.to_thread(_operator_credentials, stack, paths)
    return await ServiceClient.connect(
        ConnectConfig(target_host=stack.temporal_address, tls=tls, api_key=jwt)
    )


CLI_PROFILE: Final = "orders"
"""Profile of the private ``temporal`` CLI config file holding an identity's JWT."""


@contextlib.contextmanager
def temporal_cli_args(
    stack: StackInfo, paths: StackPaths, identity: Identity = identities.ORDER_CLIENT
) -> Iterator[list[str]]:
    """``temporal`` CLI connection flags acting as ``identity``, mTLS and JWT included.

    The client certificate is issued for ``identity`` with its own Vault login and
    written (0600) to a private temporary directory that is removed on exit. Where the
    stack's identities present JWTs (an authorizing server denies a CLI without one), the
    identity's own token goes into a 0600 CLI config file there too (``api_key`` of a
    profile), never onto the command line.
    """
    args = ["--address", stack.temporal_address, "--namespace", stack.namespace]
    if not stack.ca_file or not stack.temporal_server_name:
        yield args
        return
    wants_token = identity_settings(stack, paths, identity).temporal_token
    client = login_as(stack, paths, identity)
    try:
        cert = certs.issue_client(client, identity)
        jwt = client.read(token_path(identity))["data"]["token"] if wants_token else None
    finally:
        client.auth.token.revoke_self()
    with tempfile.TemporaryDirectory(prefix="orders-cli-") as tmp:
        cert_file, key_file = Path(tmp) / "client.crt", Path(tmp) / "client.key"
        write_private(cert_file, cert.fullchain)
        write_private(key_file, cert.private_key)
        token_args: list[str] = []
        if jwt is not None:
            config = Path(tmp) / "temporal.toml"
            write_private(config, f'[profile.{CLI_PROFILE}]\napi_key = "{jwt}"\n')
            token_args = ["--config-file", str(config), "--profile", CLI_PROFILE]
        yield [
            *args,
            "--tls-cert-path", str(cert_file), "--tls-key-path", str(key_file),
            "--tls-ca-path", stack.ca_file, "--tls-server-name", stack.temporal_server_name,
            *token_args,
        ]  # fmt: skip
