"""Identities' own Temporal JWTs, minted by the stack's OpenBao (``orders.vault.tokens``).

Each identity that calls Temporal reads its token with its own Vault login; the token's
``permissions`` are the contract's, its signature verifies against the key set at the path
the rendered docker-compose file gives the Temporal server, its lifetime is the configured
TTL, and no identity can read another's. People's tokens (the OIDC provider) and machine
tokens never carry each other's permissions. The running workers and the test client
present theirs (the dev server ignores the header; an authorizing server checks it).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import hvac
import jwt
import pytest
from temporalio.client import Client

from orders import oidc
from orders.contract import identities, temporal_access
from orders.deploy import render
from orders.devstack import actas
from orders.devstack import people as dev_people
from orders.devstack.state import StackInfo, StackPaths
from orders.models import Outcome
from orders.security.trust import httpx_verify
from orders.vault import people as vault_people
from orders.vault import tokens as vault_tokens
from tests.support import stack as support
from tests.support.stack import TEST_TTLS

pytestmark = pytest.mark.integration

CALLERS = list(temporal_access.temporal_token_identities())
NON_CALLERS = [i for i in identities.ALL if not temporal_access.temporal_permissions(i)]


def _rendered_jwks_path() -> str:
    """The path of the machine-token key set the compose file gives the Temporal server."""
    compose = render.load_compose()
    url: str = compose["services"]["temporal"]["environment"]["TEMPORAL_JWT_KEY_SOURCE2"]
    return urlsplit(url).path


def _jwks(stack: StackInfo, path: str) -> dict[str, Any]:
    resp = httpx.get(stack.vault_addr + path, verify=httpx_verify(stack.verify), timeout=10)
    resp.raise_for_status()
    keys: dict[str, Any] = resp.json()
    return keys


def _verify(token: str, jwks: dict[str, Any], audience: str) -> dict[str, Any]:
    """Claims of ``token`` after checking its signature against ``jwks`` (by ``kid``)."""
    kid = jwt.get_unverified_header(token)["kid"]
    [key] = [k for k in jwt.PyJWKSet.from_dict(jwks).keys if k.key_id == kid]
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=["RS256"], audience=audience, options={"require": ["exp"]}
    )
    return claims


def _unverified_claims(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return claims


def _permissions(claims: dict[str, Any]) -> set[str]:
    """Only ``<namespace>:<role>`` entries, as Temporal's claim mapper reads them."""
    return {p for p in claims.get(vault_people.PERMISSIONS_CLAIM, []) if ":" in p}


@pytest.mark.parametrize("identity", CALLERS, ids=lambda i: i.name)
def test_identity_gets_its_own_token_with_the_contracts_permissions(
    stack: StackInfo, stack_paths: StackPaths, identity: identities.Identity
) -> None:
    vault = support.login_as(stack, stack_paths, identity)
    try:
        entity_id = vault.auth.token.lookup_self()["data"]["entity_id"]
        data = vault.read(vault_tokens.token_path(identity))["data"]
    finally:
        vault.auth.token.revoke_self()
    now = time.time()
    path = _rendered_jwks_path()
    assert path == vault_tokens.JWKS_PATH
    claims = _verify(data["token"], _jwks(stack, path), audience=data["client_id"])
    assert claims[vault_people.PERMISSIONS_CLAIM] == list(
        temporal_access.temporal_permissions(identity)
    )
    if identity.is_worker:
        role = temporal_access.WORKER_TEMPORAL_ROLE
        assert claims[vault_people.PERMISSIONS_CLAIM] == [f"{identities.TEMPORAL_NAMESPACE}:{role}"]
    # The subject is the entity of the identity's own Kubernetes-auth login.
    assert claims["sub"] == entity_id
    assert data["ttl"] == TEST_TTLS.temporal_token_ttl
    assert claims["exp"] - claims["iat"] == TEST_TTLS.temporal_token_ttl
    assert 0 < claims["exp"] - now <= TEST_TTLS.temporal_token_ttl + 2


@pytest.mark.parametrize("identity", identities.ALL, ids=lambda i: i.name)
def test_identity_cannot_read_another_identitys_token(
    stack: StackInfo, stack_paths: StackPaths, identity: identities.Identity
) -> None:
    vault = support.login_as(stack, stack_paths, identity)
    try:
        for other in CALLERS:
            if other is identity:
                continue
            with pytest.raises(hvac.exceptions.Forbidden):
                vault.read(vault_tokens.token_path(other))
        # Nor may it mint tokens of the people's provider, or read the roles' definitions.
        for path in (
            "identity/oidc/role",
            f"identity/oidc/key/{temporal_access.TEMPORAL_TOKEN_KEY}",
        ):
            with pytest.raises(hvac.exceptions.Forbidden):
                vault.read(path)
    finally:
        vault.auth.token.revoke_self()


async def test_people_and_machine_tokens_do_not_carry_each_others_permissions(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    assert stack.codec_client_id, "the stack registers the codec server's OIDC client"
    people: dict[str, set[str]] = {}
    for user in ("dev-viewer", "dev-other-viewer", "bob"):
        token = await oidc.fetch_person_token(
            stack.vault_addr,
            stack.codec_client_id,
            user,
            dev_people.dev_password(stack_paths, user),
            verify=stack.verify,
        )
        people[user] = _permissions(_unverified_claims(token))
        assert people[user], user
    machines: dict[str, set[str]] = {}
    for identity in CALLERS:
        vault = support.login_as(stack, stack_paths, identity)
        try:
            token = vault.read(vault_tokens.token_path(identity))["data"]["token"]
        finally:
            vault.auth.token.revoke_self()
        raw = _unverified_claims(token)[vault_people.PERMISSIONS_CLAIM]
        # Exactly the contract's permissions: no people group, nothing inherited.
        assert raw == list(temporal_access.temporal_permissions(identity))
        machines[identity.name] = set(raw)
    # An operator identity (the customer eraser) describes workflows as a viewer does: it
    # shares ``read`` and nothing more; its token's audience still binds it to its own
    # certificate (front/test_audiences.py). Polling and writing are never shared.
    shared = {f"{identities.TEMPORAL_NAMESPACE}:read"}
    for user, held in people.items():
        for name, granted in machines.items():
            assert not (held & granted) - shared, (user, name, held & granted)


async def test_machine_token_is_refused_by_the_codec_server(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    """The codec server wants a person's token (its audience, the provider's keys): 401."""
    assert stack.codec_server_url
    vault = support.login_as(stack, stack_paths, identities.ORDER_CLIENT)
    try:
        token = vault.read(vault_tokens.token_path(identities.ORDER_CLIENT))["data"]["token"]
    finally:
        vault.auth.token.revoke_self()
    async with httpx.AsyncClient(verify=httpx_verify(stack.verify), timeout=10) as http:
        resp = await http.post(
            f"{stack.codec_server_url}/decode",
            headers={
                "Authorization": f"Bearer {token}",
                "X-Namespace": identities.TEMPORAL_NAMESPACE,
            },
            json={"payloads": []},
        )
    assert resp.status_code == 401


def _log_events(stack_paths: StackPaths, identity: identities.Identity, event: str) -> int:
    lines = stack_paths.log_file(identity.name).read_text().splitlines()
    return sum(1 for line in lines if f'"{event}"' in line)


async def test_workers_and_client_present_and_refresh_their_tokens(
    stack: StackInfo, stack_paths: StackPaths, client: Client
) -> None:
    """The client's live connection carries its token; every worker refreshes its own."""
    assert client.api_key is not None
    claims = _unverified_claims(client.api_key)
    assert claims[vault_people.PERMISSIONS_CLAIM] == list(
        temporal_access.temporal_permissions(identities.ORDER_CLIENT)
    )
    workers = list(identities.workers())
    for worker in workers:
        assert _log_events(stack_paths, worker, "temporal.token.issued") >= 1, worker.name
    start = {w.name: _log_events(stack_paths, w, "temporal.token.refreshed") for w in workers}
    first = client.api_key
    # Renewal is due at 2/3 of the TTL: within one TTL every process has a new token.
    deadline = time.monotonic() + TEST_TTLS.temporal_token_ttl + 15
    refreshed: dict[str, int] = {}
    while time.monotonic() < deadline:
        refreshed = {
            w.name: _log_events(stack_paths, w, "temporal.token.refreshed") - start[w.name]
            for w in workers
        }
        if client.api_key != first and all(n >= 1 for n in refreshed.values()):
            break
        await asyncio.sleep(1)
    assert client.api_key != first
    assert all(n >= 1 for n in refreshed.values()), refreshed
    # And the client still works with the refreshed token on its connection.
    order = support.make_order("jwt")
    assert (await support.complete(client, order)).outcome is Outcome.COMPLETED


def test_raw_cli_carries_the_identitys_token_in_a_private_profile(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    """The demo's raw ``temporal`` CLI calls: the JWT in a 0600 config file, not in argv."""
    with actas.temporal_cli_args(stack, stack_paths) as args:
        [config] = [Path(args[i + 1]) for i, a in enumerate(args) if a == "--config-file"]
        assert args[args.index("--profile") + 1] == actas.CLI_PROFILE
        assert config.stat().st_mode & 0o777 == 0o600
        token = tomllib.loads(config.read_text())["profile"][actas.CLI_PROFILE]["api_key"]
        assert token not in " ".join(args)
        claims = _unverified_claims(token)
        assert claims[vault_people.PERMISSIONS_CLAIM] == list(
            temporal_access.temporal_permissions(identities.ORDER_CLIENT)
        )
        assert claims["exp"] > time.time()
    assert not config.exists()
