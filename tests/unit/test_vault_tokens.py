"""The namespace-registration JWT's role: what it grants, and that no workload can read it.

Offline, over ``vault/``: every policy an identity, a person or a people group can carry is
matched (with Vault's glob rules) against the paths that yield the admin JWT; none may
reach them. The admin policy itself grants exactly the read of that one token.
"""

from __future__ import annotations

import json
import re

import pytest

from orders.contract import identities, temporal_access
from orders.vault import approvers as vault_approvers
from orders.vault import people as vault_people
from orders.vault import tokens as vault_tokens
from orders.vault.config import Ttls, k8s_role
from orders.vault.policy import policy_file, read_shipped, shipped

STANZA = re.compile(r'path\s+"([^"]+)"\s*{\s*capabilities\s*=\s*\[([^\]]*)\]')
ADMIN = vault_tokens.ADMIN_ROLE
# Reading the JWT, or creating a token that could read it.
ADMIN_PATHS = (f"identity/oidc/token/{ADMIN}", f"auth/token/create/{ADMIN}")


def _stanzas(text: str) -> list[tuple[str, set[str]]]:
    return [
        (path, {c.strip().strip('"') for c in caps.split(",") if c.strip()})
        for path, caps in STANZA.findall(text)
    ]


def _matches(pattern: str, path: str) -> bool:
    """Vault's ACL path rules: ``+`` is one segment, a trailing ``*`` any suffix."""
    regex = re.escape(pattern).replace(r"\+", "[^/]+")
    if regex.endswith(r"\*"):
        regex = regex[:-2] + ".*"
    return re.fullmatch(regex, path) is not None


def _workload_policies() -> dict[str, str]:
    """Every policy something other than the setup step can carry, by name."""
    found = {
        f.name.removesuffix(".hcl"): f.read_text()
        for kind in ("policies", "people", "autoscaler")
        for f in shipped(kind).iterdir()
        if f.name.endswith(".hcl")
    }
    found[vault_approvers.GROUP_POLICY] = vault_approvers.group_policy()
    return found


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
    assert _stanzas(text) == [(f"identity/oidc/token/{ADMIN}", {"read"})]
    # It lives outside vault/policies/, which holds the identities' policies only.
    assert not shipped("policies", f"{ADMIN}.hcl").is_file()


@pytest.mark.parametrize("name", sorted(_workload_policies()))
def test_no_workload_policy_reaches_the_admin_token(name: str) -> None:
    text = _workload_policies()[name]
    for pattern, caps in _stanzas(text):
        if caps <= {"deny"}:
            continue
        for path in ADMIN_PATHS:
            assert not _matches(pattern, path), (name, pattern, path)


def test_no_identity_or_login_role_carries_the_admin_policy() -> None:
    assert ADMIN not in identities.BY_NAME
    for ident in identities.ALL:
        assert k8s_role(ident, Ttls())["token_policies"] == [ident.vault_policy]
        assert policy_file(ident).stem != ADMIN
    assert ADMIN not in {p for ps in vault_approvers.group_policies().values() for p in ps}
    assert vault_people.PERSON_POLICY != ADMIN


def test_glob_matcher_catches_wildcards() -> None:
    """The matcher above must not miss a policy written with globs."""
    assert _matches("identity/oidc/token/*", ADMIN_PATHS[0])
    assert _matches("identity/oidc/+/temporal-admin", ADMIN_PATHS[0])
    assert _matches("auth/token/create/*", ADMIN_PATHS[1])
    assert not _matches("identity/oidc/token/order-client", ADMIN_PATHS[0])
