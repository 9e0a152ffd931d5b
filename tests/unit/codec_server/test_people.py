"""People configuration as code: groups -> Temporal permissions, OIDC provider, dev people."""

from __future__ import annotations

import json
import re

from orders.codec_server.auth import parse_permissions
from orders.contract import approval_policy, identities, transit_names
from orders.devstack import people as dev_people
from orders.vault import approvers as vault_approvers
from orders.vault import people as vault_people


def test_people_groups_are_the_issues_names_and_map_to_temporal_permissions() -> None:
    assert {"order-viewers", "order-operators", "order-approvers", "order-admins"} <= set(
        vault_people.PEOPLE_GROUPS
    )
    groups = vault_people.permission_groups()
    assert groups["orders:read"] == ("order-viewers", "order-approvers")
    assert groups["orders:write"] == ("order-operators",)
    assert groups["orders:admin"] == ("order-admins",)
    for permission, holders in groups.items():
        assert vault_people.PERMISSION_PATTERN.match(permission)
        assert set(holders) <= set(vault_people.PEOPLE_GROUPS)
        # What the codec server parses is exactly the permission, not the group name.
        assert parse_permissions([permission, *holders]) == {tuple(permission.split(":"))}


def test_dev_people_cover_viewer_other_namespace_no_group_and_approvers() -> None:
    people = dev_people.dev_people()
    perms = {
        user: {p for g in groups for p in vault_people.PEOPLE_GROUPS[g]}
        for user, groups in people.items()
    }
    ns = identities.TEMPORAL_NAMESPACE
    assert any(f"{ns}:read" in p for p in perms.values())
    assert any(p and not any(x.startswith(f"{ns}:") for x in p) for p in perms.values())
    assert any(not p for p in perms.values())
    assert any(not a.active for a in approval_policy.APPROVERS)
    for approver in approval_policy.APPROVERS:
        extra = dev_people.DEV_APPROVER_GROUPS.get(approver.name, ())
        wanted = (vault_people.APPROVERS_GROUP, *extra) if approver.active else ()
        assert people[approver.name] == wanted, approver.name
        assert dev_people.dev_password_name(approver.name) == approver.transit_key
    assert dev_people.dev_password_name("dev-viewer") == "user-dev-viewer"


def test_person_policy_only_authorizes_at_the_provider() -> None:
    text = vault_people.person_policy()
    paths = re.findall(r'^path "([^"]+)"', text, re.MULTILINE)
    assert paths == [
        f"identity/oidc/provider/{vault_people.PROVIDER}/authorize",
        "auth/token/revoke-self",
    ]
    assert "transit" not in text
    assert "{provider}" not in text


def test_scope_templates_are_json_with_username_and_permissions() -> None:
    claims: dict[str, str] = {}
    for template in vault_people.SCOPES.values():
        rendered = re.sub(r"\{\{[a-z.]+\}\}", '"x"', template)
        claims |= json.loads(rendered)
    assert set(claims) == {vault_people.USERNAME_CLAIM, vault_people.PERMISSIONS_CLAIM}
    assert "identity.entity.groups.names" in vault_people.SCOPES[vault_people.PERMISSIONS_CLAIM]
    assert vault_people.REQUESTED_SCOPES[0] == "openid"


def test_issuer_and_jwks_derive_from_one_base() -> None:
    """The issuer (and, for Temporal's static config, the JWKS); clients use discovery."""
    issuer = vault_people.issuer_for("http://127.0.0.1:8200/")
    assert issuer == "http://127.0.0.1:8200/v1/identity/oidc/provider/orders"
    assert vault_people.jwks_url_for(issuer) == issuer + "/.well-known/keys"


def test_approvers_group_policy_signs_with_the_members_own_key_only() -> None:
    text = vault_approvers.group_policy()
    stanzas = re.findall(r'path\s+"([^"]+)"\s*{\s*capabilities\s*=\s*\[([^\]]*)\]', text)
    assert stanzas == [
        (f"{transit_names.TRANSIT_MOUNT}/sign/approver-{{{{identity.entity.name}}}}", '"update"')
    ]
    assert vault_approvers.group_policies() == {
        vault_people.APPROVERS_GROUP: (vault_approvers.GROUP_POLICY,)
    }
