"""The namespace-registration JWT, minted by the stack's real OpenBao (``orders.vault.tokens``).

Only the setup step (root token, through the ``temporal-admin`` token role) gets it; it
carries exactly ``<namespace>:admin`` and verifies against the key set the Temporal server
reads; the Vault token used to read it is gone afterwards; and every identity, with its own
login, is refused (403) both the JWT and a token of the role that could read it.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import hvac
import jwt
import pytest

from orders.contract import identities
from orders.devstack.state import StackInfo, StackPaths
from orders.security.trust import httpx_verify
from orders.vault import people as vault_people
from orders.vault import tokens as vault_tokens
from tests.support import stack as support

pytestmark = pytest.mark.integration

ADMIN = vault_tokens.ADMIN_ROLE


def _root(stack: StackInfo) -> hvac.Client:
    return support.vault(stack, stack.root_token())


def _claims(stack: StackInfo, token: str, audience: str) -> dict[str, Any]:
    keys = httpx.get(
        stack.vault_addr + vault_tokens.JWKS_PATH, verify=httpx_verify(stack.verify), timeout=10
    ).json()
    kid = jwt.get_unverified_header(token)["kid"]
    [key] = [k for k in jwt.PyJWKSet.from_dict(keys).keys if k.key_id == kid]
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=["RS256"], audience=audience, options={"require": ["exp"]}
    )
    return claims


def test_admin_token_carries_exactly_namespace_admin(stack: StackInfo) -> None:
    root = _root(stack)
    before = time.time()
    token = vault_tokens.mint_admin_token(root, stack.verify)
    audience = root.read(f"identity/oidc/role/{ADMIN}")["data"]["client_id"]
    claims = _claims(stack, token, audience)
    assert claims[vault_people.PERMISSIONS_CLAIM] == [f"{identities.TEMPORAL_NAMESPACE}:admin"]
    assert claims["exp"] - claims["iat"] == vault_tokens.ADMIN_TOKEN_TTL
    assert 0 < claims["exp"] - before <= vault_tokens.ADMIN_TOKEN_TTL + 2
    # Signed for the entity of the role's alias, not for any identity's entity.
    entity = root.read(f"identity/entity/id/{claims['sub']}")["data"]
    assert [a["name"] for a in entity["aliases"]] == [ADMIN]


def test_the_vault_token_that_read_it_is_revoked(stack: StackInfo) -> None:
    root = _root(stack)
    accessors_before = set(root.list("auth/token/accessors")["data"]["keys"])
    vault_tokens.mint_admin_token(root, stack.verify)
    after = set(root.list("auth/token/accessors")["data"]["keys"]) - accessors_before
    for accessor in after:
        try:
            found = root.write_data("auth/token/lookup-accessor", data={"accessor": accessor})
        except hvac.exceptions.InvalidRequest:
            continue  # another process's token, revoked meanwhile
        assert ADMIN not in found["data"].get("policies", []), found["data"]


@pytest.mark.parametrize("identity", identities.ALL, ids=lambda i: i.name)
def test_no_identity_can_get_the_admin_token(
    stack: StackInfo, stack_paths: StackPaths, identity: identities.Identity
) -> None:
    vault = support.login_as(stack, stack_paths, identity)
    try:
        with pytest.raises(hvac.exceptions.Forbidden):
            vault.read(f"identity/oidc/token/{ADMIN}")
        with pytest.raises(hvac.exceptions.Forbidden):
            vault.write_data(f"auth/token/create/{ADMIN}", data={"entity_alias": ADMIN})
    finally:
        vault.auth.token.revoke_self()
