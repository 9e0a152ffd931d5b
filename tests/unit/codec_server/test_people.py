"""People configuration as code: groups -> Temporal permissions, token role, dev users."""

from __future__ import annotations

import json
import re

from orders import identities, vault_people
from orders.codec_server.auth import parse_permissions


def test_permission_groups_are_named_as_temporal_permissions() -> None:
    groups = vault_people.permission_groups()
    assert groups["orders:read"] == ("order-viewers",)
    for permission, holders in groups.items():
        assert vault_people.PERMISSION_PATTERN.match(permission)
        assert set(holders) <= set(vault_people.PEOPLE_GROUPS)
        # What the codec server parses is exactly the permission, not the group name.
        assert parse_permissions([permission, *holders]) == {tuple(permission.split(":"))}


def test_dev_users_cover_viewer_other_namespace_and_no_group() -> None:
    perms = {
        user: {p for g in groups for p in vault_people.PEOPLE_GROUPS[g]}
        for user, groups in vault_people.DEV_USERS.items()
    }
    ns = identities.TEMPORAL_NAMESPACE
    assert any(f"{ns}:read" in p for p in perms.values())
    assert any(p and not any(x.startswith(f"{ns}:") for x in p) for p in perms.values())
    assert any(not p for p in perms.values())


def test_person_policy_only_mints_the_codec_token() -> None:
    text = vault_people.person_policy_path().read_text()
    paths = re.findall(r'^path "([^"]+)"', text, re.MULTILINE)
    assert paths == [f"identity/oidc/token/{vault_people.CODEC_TOKEN_ROLE}"]
    assert re.findall(r"capabilities = \[(.*)\]", text) == ['"read"']


def test_claims_template_is_json_with_permissions() -> None:
    rendered = re.sub(r"\{\{[a-z.]+\}\}", '"x"', vault_people.CLAIMS_TEMPLATE)
    claims = json.loads(rendered)
    assert set(claims) == {"username", "permissions"}
    assert "identity.entity.groups.names" in vault_people.CLAIMS_TEMPLATE


def test_issuer_and_jwks_url() -> None:
    assert vault_people.issuer_for("http://127.0.0.1:8200/") == (
        "http://127.0.0.1:8200/v1/identity/oidc"
    )
    assert vault_people.jwks_url_for("http://v:1").endswith("/identity/oidc/.well-known/keys")
