"""People in OpenBao: identity groups, Temporal permissions, the OIDC provider, dev users.

Workers have machine identities (Kubernetes auth); people get theirs from the same control
plane: OpenBao is the *OpenID Connect provider* for the codec server, the ``orders`` CLI
and the Temporal UI. What is applied, as code, by :func:`apply_people` (called from
``orders.vault.config.apply``):

* ``userpass`` auth (local people; a corporate OIDC/LDAP method would replace it), whose
  users carry only the ``orders-person`` policy (``vault/people/orders-person.hcl``): it
  may call the provider's ``authorize`` endpoint, nothing else.
* *People groups* (``order-viewers``, ``order-operators``, ``order-approvers``,
  ``order-admins``, ``billing-viewers``) that people are members of.
* *Permission groups* named exactly as a Temporal permission (``orders:read``), whose
  members are the people groups that hold that permission. OpenBao's templates have no
  conditionals, so the group -> permission mapping lives in the group hierarchy: a scope
  template of ``{{identity.entity.groups.names}}`` (which includes inherited groups) then
  yields the ``permissions`` claim in the ``<namespace>:<role>`` format Temporal's default
  claim mapper reads. The claim also lists the people-group names; consumers ignore
  entries that are not ``<namespace>:<role>`` (as Temporal's claim mapper does).
* The OIDC provider ``orders`` with the scopes ``profile`` (``username``) and
  ``permissions``, the RS256 signing key ``orders-people``, the assignment
  ``orders-people`` (members of any people group; nobody else can obtain a token), and
  three clients, one per place a person's token is accepted, so that no token is accepted
  at another (each client's id is its tokens' ``aud``, and each acceptor checks its own):

  - ``codec-server`` (*public*: PKCE): the codec server's browser login and ``orders
    login`` for API calls to the codec server. Accepted by the codec server only;
  - ``temporal-cli`` (*public*: PKCE, loopback redirect): programs a person runs against
    Temporal (CLI, SDK), through the authorization front's persons' port. Accepted there
    only;
  - ``temporal-ui`` (confidential, for a Temporal UI with its own login): the UI forwards
    it to Temporal as the ``temporal-ui`` principal; accepted there only.

  The codec server receives every person's token on every decode and Temporal every CLI
  token: if one token served both, either could replay it at the other. OpenBao generates
  client ids; :func:`client_id` reads them. The issuer is ``<issuer base>/v1/identity/oidc/provider/
  orders`` (:func:`issuer_for`), where the base is OpenBao's ``api_addr`` unless
  configured (a cluster's external URL).
* The group ``order-approvers`` carries the approvers' signing policy
  (``orders.vault.approvers``): signing rights come from group membership.

The dev stack adds its people with :func:`orders.devstack.people.ensure_dev_users` (random
passwords under ``.orders/dev/secrets/``); :mod:`orders.oidc` runs the authorization code
flow with PKCE.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
import hvac

from orders.contract import approval_policy
from orders.security.vault import VaultUnavailableError
from orders.vault.policy import read_shipped

USERPASS_MOUNT: Final = "userpass"
PERSON_POLICY: Final = "orders-person"
OIDC_KEY: Final = "orders-people"
PROVIDER: Final = "orders"
"""The OIDC provider (``identity/oidc/provider/orders``)."""
ASSIGNMENT: Final = "orders-people"
CODEC_CLIENT: Final = "codec-server"
"""OIDC client of the codec server and the CLI (public, PKCE); its id is their audience."""
UI_CLIENT: Final = "temporal-ui"
"""OIDC client of a Temporal UI with its own login (confidential)."""
TEMPORAL_CLIENT: Final = "temporal-cli"
"""OIDC client of programs a person runs against Temporal (public, PKCE); its id is the
audience the authorization front's persons' port requires."""
CLI_REDIRECT_URI: Final = "http://127.0.0.1/callback"
"""``orders login``'s loopback callback; OpenBao matches loopback redirects on any port."""
CODEC_CALLBACK_PATH: Final = "/oidc/callback"
ID_TOKEN_TTL: Final = "1h"  # noqa: S105 - a duration, not a secret
MANAGED_BY: Final = "orders.vault.people"
RETIRED_TOKEN_ROLE: Final = "codec-server"  # noqa: S105 - a role name, not a secret
"""The identity-token role the codec server accepted before the OIDC provider; deleted."""

USERNAME_CLAIM: Final = "username"
PERMISSIONS_CLAIM: Final = "permissions"
"""Claim holding Temporal permissions (Temporal's ``permissionsClaimName``)."""
SCOPES: Final[dict[str, str]] = {
    "profile": f'{{"{USERNAME_CLAIM}": {{{{identity.entity.name}}}}}}',
    PERMISSIONS_CLAIM: f'{{"{PERMISSIONS_CLAIM}": {{{{identity.entity.groups.names}}}}}}',
}
"""Scope -> claims template, added to the ID token's base claims (iss, sub, aud, iat, exp)."""
REQUESTED_SCOPES: Final = ("openid", *SCOPES)

APPROVERS_GROUP: Final = approval_policy.APPROVERS_GROUP
PEOPLE_GROUPS: Final[dict[str, tuple[str, ...]]] = {
    "order-viewers": ("orders:read",),
    "order-operators": ("orders:write",),
    # Approvers read the order they approve; the approval itself is their signature.
    APPROVERS_GROUP: ("orders:read",),
    "order-admins": ("orders:admin",),
    # Viewers of another namespace: a valid person who must not read ``orders``.
    "billing-viewers": ("billing:read",),
}
"""People group -> the Temporal permissions (``<namespace>:<role>``) its members hold."""

PERMISSION_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}:(read|write|worker|admin)$")
USERNAME_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class OidcConfig:
    """Where the provider's clients live (environment specific).

    Attributes:
        issuer_base: ``scheme://host[:port]`` the issuer is built on (what browsers and
            servers use to reach OpenBao); None: OpenBao's own ``api_addr``.
        codec_redirect_uris: The codec server's ``/oidc/callback`` URL(s), besides the CLI's.
        ui_redirect_uris: The Temporal UI's callback URL(s).
    """

    issuer_base: str | None = None
    codec_redirect_uris: tuple[str, ...] = ()
    ui_redirect_uris: tuple[str, ...] = field(default=())


class PersonLoginError(PermissionError):
    """OpenBao refused the person (wrong name or password, or no right to the token role)."""


def person_policy() -> str:
    """The policy every person gets: the provider's ``authorize`` endpoint only.

    Read from the shipped ``vault/people/orders-person.hcl``, ``{provider}`` filled in.
    """
    return read_shipped("people", f"{PERSON_POLICY}.hcl").replace("{provider}", PROVIDER)


def permission_groups() -> dict[str, tuple[str, ...]]:
    """Permission group (named as the permission) -> the people groups that hold it."""
    out: dict[str, list[str]] = {}
    for group, permissions in PEOPLE_GROUPS.items():
        for permission in permissions:
            if not PERMISSION_PATTERN.match(permission):
                raise ValueError(f"{permission!r} is not a Temporal <namespace>:<role> permission")
            out.setdefault(permission, []).append(group)
    return {p: tuple(groups) for p, groups in out.items()}


def _group_id(client: hvac.Client, name: str) -> str:
    group_id: str = client.read(f"identity/group/name/{name}")["data"]["id"]
    return group_id


def issuer_for(issuer_base: str) -> str:
    """The provider's issuer (``iss``) for an OpenBao reached at ``issuer_base``."""
    return f"{issuer_base.rstrip('/')}/v1/identity/oidc/provider/{PROVIDER}"


def jwks_url_for(issuer: str) -> str:
    """Where the provider publishes its public keys (unauthenticated)."""
    return f"{issuer}/.well-known/keys"


def authorize_api_for(issuer: str) -> str:
    """The API the UI calls with the person's Vault token once they are logged in."""
    return f"{issuer}/authorize"


def client_id(client: hvac.Client, name: str) -> str:
    """The (OpenBao-generated) client id of OIDC client ``name``."""
    found: str = client.read(f"identity/oidc/client/{name}")["data"]["client_id"]
    return found


def _oidc_clients(oidc: OidcConfig) -> dict[str, dict[str, Any]]:
    return {
        CODEC_CLIENT: {
            # Public: the CLI cannot keep a secret; PKCE (S256) protects the code instead.
            "client_type": "public",
            "redirect_uris": sorted({CLI_REDIRECT_URI, *oidc.codec_redirect_uris}),
        },
        UI_CLIENT: {"client_type": "confidential", "redirect_uris": sorted(oidc.ui_redirect_uris)},
        # Public like the codec server's, but its own audience: Temporal's persons' port.
        TEMPORAL_CLIENT: {"client_type": "public", "redirect_uris": [CLI_REDIRECT_URI]},
    }


def apply_oidc_provider(client: hvac.Client, oidc: OidcConfig) -> list[str]:
    """The signing key, scopes, assignment, clients and provider; idempotent."""
    written: list[str] = []

    def write(path: str, data: dict[str, Any]) -> None:
        client.write_data(path, data=data)
        written.append(path)

    key = {"algorithm": "RS256", "rotation_period": "24h", "verification_ttl": "24h"}
    write(f"identity/oidc/key/{OIDC_KEY}", key)
    for scope, template in SCOPES.items():
        write(f"identity/oidc/scope/{scope}", {"template": template, "description": scope})
    write(
        f"identity/oidc/assignment/{ASSIGNMENT}",
        {"group_ids": [_group_id(client, g) for g in PEOPLE_GROUPS], "entity_ids": []},
    )
    ids: list[str] = []
    for name, params in _oidc_clients(oidc).items():
        write(
            f"identity/oidc/client/{name}",
            params
            | {
                "key": OIDC_KEY,
                "assignments": [ASSIGNMENT],
                "id_token_ttl": ID_TOKEN_TTL,
                "access_token_ttl": ID_TOKEN_TTL,
            },
        )
        ids.append(client_id(client, name))
    write(f"identity/oidc/key/{OIDC_KEY}", key | {"allowed_client_ids": ids})
    provider: dict[str, Any] = {"allowed_client_ids": ids, "scopes_supported": list(SCOPES)}
    if oidc.issuer_base:
        provider["issuer"] = oidc.issuer_base.rstrip("/")
    write(f"identity/oidc/provider/{PROVIDER}", provider)
    # Tokens of the pre-provider identity-token role must stop being minted.
    client.delete(f"identity/oidc/role/{RETIRED_TOKEN_ROLE}")
    return written


def apply_people(
    client: hvac.Client,
    oidc: OidcConfig | None = None,
    group_policies: dict[str, tuple[str, ...]] | None = None,
) -> list[str]:
    """Apply userpass, the person policy, groups and the OIDC provider; idempotent.

    Group *membership* of people groups is not touched here (it belongs to whoever manages
    people: the dev stack's :func:`orders.devstack.people.ensure_dev_users` locally).

    Args:
        client: A client allowed to configure OpenBao.
        oidc: Issuer and redirect URIs (default: OpenBao's ``api_addr``, the CLI only).
        group_policies: Policies carried by people groups (the approvers' signing policy).

    Returns:
        The Vault paths written.
    """
    written: list[str] = []

    def write(path: str, data: dict[str, Any]) -> None:
        client.write_data(path, data=data)
        written.append(path)

    if f"{USERPASS_MOUNT}/" not in client.sys.list_auth_methods()["data"]:
        client.sys.enable_auth_method("userpass", path=USERPASS_MOUNT)
    client.sys.create_or_update_policy(PERSON_POLICY, person_policy())
    written.append(f"sys/policies/acl/{PERSON_POLICY}")

    for group in PEOPLE_GROUPS:
        write(
            f"identity/group/name/{group}",
            {
                "type": "internal",
                "metadata": {"managed_by": MANAGED_BY, "kind": "people"},
                "policies": list((group_policies or {}).get(group, ())),
            },
        )
    for permission, holders in permission_groups().items():
        write(
            f"identity/group/name/{permission}",
            {
                "type": "internal",
                "metadata": {"managed_by": MANAGED_BY, "kind": "permission"},
                # Replaced as a whole: the table above is the only source of this mapping.
                "member_group_ids": [_group_id(client, g) for g in holders],
            },
        )
    wanted = set(PEOPLE_GROUPS) | set(permission_groups())
    listed = client.list("identity/group/name") or {}
    for name in listed.get("data", {}).get("keys", []):
        if name in wanted:
            continue
        meta = (client.read(f"identity/group/name/{name}") or {}).get("data", {}).get("metadata")
        if (meta or {}).get("managed_by") == MANAGED_BY:
            # A group dropped from the table must stop granting its permission.
            client.delete(f"identity/group/name/{name}")
            written.append(f"-identity/group/name/{name}")
    written += apply_oidc_provider(client, oidc or OidcConfig())
    return written


def userpass_accessor(client: hvac.Client) -> str:
    """The accessor of the people's userpass mount (entity aliases name it)."""
    accessor: str = client.sys.list_auth_methods()["data"][f"{USERPASS_MOUNT}/"]["accessor"]
    return accessor


def ensure_entity(client: hvac.Client, user: str, accessor: str) -> str:
    """The entity named ``user`` with a userpass alias ``user``; returns its id.

    An explicit entity (rather than the one OpenBao creates at first login) gives tokens a
    readable ``username`` claim and lets groups name the member before it ever logs in.
    """
    client.write_data(f"identity/entity/name/{user}", data={"metadata": {"managed_by": MANAGED_BY}})
    entity_id: str = client.read(f"identity/entity/name/{user}")["data"]["id"]
    found = client.write_data(
        "identity/lookup/entity",
        data={"alias_name": user, "alias_mount_accessor": accessor},
    )
    data = found.get("data") if isinstance(found, dict) else None
    if not data:
        client.write_data(
            "identity/entity-alias",
            data={"name": user, "canonical_id": entity_id, "mount_accessor": accessor},
        )
    elif data["id"] != entity_id:
        for alias in data.get("aliases") or []:
            if alias["mount_accessor"] == accessor and alias["name"] == user:
                client.write_data(
                    f"identity/entity-alias/id/{alias['id']}",
                    data={"canonical_id": entity_id, "name": user, "mount_accessor": accessor},
                )
    return entity_id


async def userpass_token(
    http: httpx.AsyncClient, username: str, password: str, mount: str = USERPASS_MOUNT
) -> str:
    """Log a person in with userpass on an open client; returns their Vault token.

    Raises:
        PersonLoginError: Wrong name or password (never says which).
        VaultUnavailableError: OpenBao unreachable or failing.
    """
    if not USERNAME_PATTERN.match(username):
        raise PersonLoginError("invalid username or password")
    try:
        resp = await http.post(f"/v1/auth/{mount}/login/{username}", json={"password": password})
    except httpx.HTTPError as exc:
        raise VaultUnavailableError(f"OpenBao unreachable: {type(exc).__name__}") from None
    if resp.status_code in (400, 401, 403):
        raise PersonLoginError("invalid username or password")
    if resp.status_code != 200:
        raise VaultUnavailableError(f"userpass login answered HTTP {resp.status_code}")
    token: str = resp.json()["auth"]["client_token"]
    return token
