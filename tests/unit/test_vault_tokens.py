"""The namespace-registration JWT's role: what it grants, and that no workload can read it.

Offline, over ``vault/``: every policy an identity, a person or a people group can carry is
matched (with Vault's glob rules) against the paths that yield the admin JWT; none may
reach them. The admin policy itself grants exactly the read of that one token.
"""

from __future__ import annotations

import json

import pytest

from orders.contract import identities, temporal_access
from orders.vault import approvers as vault_approvers
from orders.vault import people as vault_people
from orders.vault import tokens as vault_tokens
from orders.vault.config import Ttls, k8s_role
from orders.vault.policy import policy_file, read_shipped, shipped
from tests.support.vault_acl import matches, stanzas, workload_policies

ADMIN = vault_tokens.ADMIN_ROLE
# Reading the JWT, or creating a token that could read it.
ADMIN_PATHS = (f"identity/oidc/token/{ADMIN}", f"auth/token/create/{ADMIN}")


def test_admin_role_grants_namespace_admin_for_two_minutes() -> None:
    body = vault_tokens.admin_role()
    claims = json.loads(body["template"])
    assert claims == {vault_people.PERMISSIONS_CLAIM: [f"{identities.TEMPORAL_NAMESPACE}:admin"]}
    # Least privilege: not system-wide, not another namespace.
    assert not any(p.startswith("system:") for p in claims[vault_people.PERMISSIONS_CLAIM])
    assert body["key"] == temporal_access.TEMPORAL_TOKEN_KEY
    assert body["ttl"] == vault_tokens.ADMIN_TOKEN_TTL <= 300


def test_admin_token_role_makes_short_orphan_tokens_with_only_that_policy() -> None:
    body = vault_tokens.admin_token_role()
    assert body["allowed_policies"] == [ADMIN]
    assert body["allowed_entity_aliases"] == [ADMIN]
    assert body["orphan"] is True
    assert body["renewable"] is False
    assert body["token_explicit_max_ttl"] == vault_tokens.ADMIN_VAULT_TOKEN_TTL <= 120
    assert body["token_no_default_policy"] is True


def test_admin_policy_reads_exactly_its_token() -> None:
    text = read_shipped(*vault_tokens.ADMIN_POLICY_FILE)
    assert stanzas(text) == [(f"identity/oidc/token/{ADMIN}", {"read"})]
    # It lives outside vault/policies/, which holds the identities' policies only.
    assert not shipped("policies", f"{ADMIN}.hcl").is_file()


@pytest.mark.parametrize("name", sorted(workload_policies()))
def test_no_workload_policy_reaches_the_admin_token(name: str) -> None:
    text = workload_policies()[name]
    for pattern, caps in stanzas(text):
        if caps <= {"deny"}:
            continue
        for path in ADMIN_PATHS:
            assert not matches(pattern, path), (name, pattern, path)


def test_no_identity_or_login_role_carries_the_admin_policy() -> None:
    assert ADMIN not in identities.BY_NAME
    for ident in identities.ALL:
        assert k8s_role(ident, Ttls())["token_policies"] == [ident.vault_policy]
        assert policy_file(ident).stem != ADMIN
    assert ADMIN not in {p for ps in vault_approvers.group_policies().values() for p in ps}
    assert vault_people.PERSON_POLICY != ADMIN


def test_glob_matcher_catches_wildcards() -> None:
    """The matcher above must not miss a policy written with globs."""
    assert matches("identity/oidc/token/*", ADMIN_PATHS[0])
    assert matches("identity/oidc/+/temporal-admin", ADMIN_PATHS[0])
    assert matches("auth/token/create/*", ADMIN_PATHS[1])
    assert not matches("identity/oidc/token/order-client", ADMIN_PATHS[0])
