"""People in OpenBao: identity groups, Temporal permissions, identity tokens, dev users.

Workers have machine identities (Kubernetes auth); people get theirs from the same control
plane. What is applied, as code, by :func:`apply_people` (called from
``orders.vault_config.apply``):

* ``userpass`` auth (local people; a corporate OIDC/LDAP method would replace it), whose
  users carry only the ``orders-person`` policy (``vault/people/orders-person.hcl``): it
  may mint one identity token, for the codec server, and nothing else.
* *People groups* (``order-viewers``, …) that users are members of.
* *Permission groups* named exactly as a Temporal permission (``orders:read``), whose
  members are the people groups that hold that permission. OpenBao's
  ``{{identity.entity.groups.names}}`` lists inherited groups too, so the token template
  can put a ``permissions`` claim straight from OpenBao, in the ``<namespace>:<role>``
  format Temporal's default claim mapper reads. The group -> permission mapping therefore
  lives in OpenBao (this table, applied), not in the codec server. The claim also lists the
  people-group names; consumers ignore entries that are not ``<namespace>:<role>`` (as
  Temporal's claim mapper does).
* A named signing key and the role ``identity/oidc/role/codec-server`` whose ``client_id``
  (the tokens' ``aud``) is the codec server's client id. Tokens are RS256 JWTs, verified
  against ``<vault>/v1/identity/oidc/.well-known/keys``; the issuer is
  ``<api_addr>/v1/identity/oidc``.

The dev stack adds users with :func:`ensure_dev_users` (random passwords under
``.orders/dev/secrets/``); :func:`fetch_person_token` logs a person in and mints a token.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import httpx
import hvac

from orders.security.vault import VaultUnavailableError

if TYPE_CHECKING:
    from orders.devstack.state import StackPaths

PEOPLE_DIR: Final = Path(__file__).resolve().parent.parent / "vault" / "people"
USERPASS_MOUNT: Final = "userpass"
PERSON_POLICY: Final = "orders-person"
OIDC_KEY: Final = "orders-people"
CODEC_TOKEN_ROLE: Final = "codec-server"  # noqa: S105 - a role name, not a secret
"""``identity/oidc/token/<role>`` people call to get a token for the codec server."""
CODEC_CLIENT_ID: Final = "orders-codec-server"
"""Audience (``aud``) of the codec server's tokens."""
TOKEN_TTL: Final = "1h"  # noqa: S105
MANAGED_BY: Final = "orders.vault_people"

CLAIMS_TEMPLATE: Final = (
    '{"username": {{identity.entity.name}}, "permissions": {{identity.entity.groups.names}}}'
)
"""Claims added to the OIDC base claims (iss, sub = entity id, aud, iat, exp)."""

PEOPLE_GROUPS: Final[dict[str, tuple[str, ...]]] = {
    "order-viewers": ("orders:read",),
    "order-operators": ("orders:write",),
    "order-admins": ("orders:admin",),
    # Viewers of another namespace: a valid person who must not read ``orders``.
    "billing-viewers": ("billing:read",),
}
"""People group -> the Temporal permissions (``<namespace>:<role>``) its members hold."""

DEV_USERS: Final[dict[str, tuple[str, ...]]] = {
    "dev-viewer": ("order-viewers",),
    "dev-other-viewer": ("billing-viewers",),
    "dev-no-group": (),
}
"""Users the dev stack creates, with their groups. Passwords are generated, never stored here."""

PERMISSION_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}:(read|write|worker|admin)$")
USERNAME_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class PersonLoginError(PermissionError):
    """OpenBao refused the person (wrong name or password, or no right to the token role)."""


def person_policy_path() -> Path:
    """File holding the policy every person gets."""
    return PEOPLE_DIR / f"{PERSON_POLICY}.hcl"


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


def apply_people(client: hvac.Client) -> list[str]:
    """Apply userpass, the person policy, groups, signing key and token role; idempotent.

    Group *membership* of people groups is not touched here (it belongs to whoever manages
    people: the dev stack's :func:`ensure_dev_users` locally).

    Returns:
        The Vault paths written.
    """
    written: list[str] = []

    def write(path: str, data: dict[str, Any]) -> None:
        client.write_data(path, data=data)
        written.append(path)

    if f"{USERPASS_MOUNT}/" not in client.sys.list_auth_methods()["data"]:
        client.sys.enable_auth_method("userpass", path=USERPASS_MOUNT)
    client.sys.create_or_update_policy(PERSON_POLICY, person_policy_path().read_text())
    written.append(f"sys/policies/acl/{PERSON_POLICY}")

    for group in PEOPLE_GROUPS:
        write(
            f"identity/group/name/{group}",
            {"type": "internal", "metadata": {"managed_by": MANAGED_BY, "kind": "people"}},
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

    write(
        f"identity/oidc/key/{OIDC_KEY}",
        {
            "algorithm": "RS256",
            "allowed_client_ids": [CODEC_CLIENT_ID],
            "rotation_period": "24h",
            "verification_ttl": "24h",
        },
    )
    write(
        f"identity/oidc/role/{CODEC_TOKEN_ROLE}",
        {
            "key": OIDC_KEY,
            "client_id": CODEC_CLIENT_ID,
            "ttl": TOKEN_TTL,
            "template": CLAIMS_TEMPLATE,
        },
    )
    return written


def _userpass_accessor(client: hvac.Client) -> str:
    accessor: str = client.sys.list_auth_methods()["data"][f"{USERPASS_MOUNT}/"]["accessor"]
    return accessor


def _ensure_entity(client: hvac.Client, user: str, accessor: str) -> str:
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


def dev_password_name(user: str) -> str:
    """Name of the secret file holding a dev user's password."""
    return f"user-{user}"


def ensure_dev_users(client: hvac.Client, paths: StackPaths) -> list[str]:
    """Create the dev users (passwords generated once, 0600) and set group membership.

    Returns:
        The user names.
    """
    accessor = _userpass_accessor(client)
    members: dict[str, list[str]] = {group: [] for group in PEOPLE_GROUPS}
    for user, groups in DEV_USERS.items():
        client.write_data(
            f"auth/{USERPASS_MOUNT}/users/{user}",
            data={
                "password": paths.secret(dev_password_name(user)),
                "token_policies": [PERSON_POLICY],
                # Only used to mint one identity token, then revoked.
                "token_ttl": 300,
                "token_max_ttl": 600,
                "token_type": "service",
            },
        )
        entity_id = _ensure_entity(client, user, accessor)
        for group in groups:
            members[group].append(entity_id)
    for group, ids in members.items():
        client.write_data(f"identity/group/name/{group}", data={"member_entity_ids": ids})
    return list(DEV_USERS)


def dev_password(paths: StackPaths, user: str) -> str:
    """A dev user's password (read from ``.orders/dev/secrets/``)."""
    path = paths.secrets / dev_password_name(user)
    if user not in DEV_USERS or not path.exists():
        raise PersonLoginError(f"no dev user {user!r}; known: {', '.join(DEV_USERS)}")
    return path.read_text().strip()


def issuer_for(vault_addr: str) -> str:
    """OpenBao's identity token issuer for a server whose ``api_addr`` is ``vault_addr``."""
    return f"{vault_addr.rstrip('/')}/v1/identity/oidc"


def jwks_url_for(vault_addr: str) -> str:
    """Where OpenBao publishes the identity tokens' public keys (unauthenticated)."""
    return f"{issuer_for(vault_addr)}/.well-known/keys"


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


async def fetch_person_token(
    vault_addr: str,
    username: str,
    password: str,
    *,
    role: str = CODEC_TOKEN_ROLE,
    mount: str = USERPASS_MOUNT,
    verify: str | bool = True,
    timeout: float = 10.0,
) -> str:
    """Log ``username`` in with userpass and mint an identity token for ``role``.

    The person's Vault token is revoked at once: it was needed only to mint the JWT.

    Raises:
        PersonLoginError: Wrong name or password, or no right to the token role.
        VaultUnavailableError: OpenBao could not be reached or failed.
    """
    async with httpx.AsyncClient(base_url=vault_addr, verify=verify, timeout=timeout) as http:
        vault_token = await userpass_token(http, username, password, mount)
        headers = {"X-Vault-Token": vault_token}
        try:
            resp = await http.get(f"/v1/identity/oidc/token/{role}", headers=headers)
            if resp.status_code in (400, 403):
                raise PersonLoginError(f"{username} may not obtain a token for {role}")
            if resp.status_code != 200:
                raise VaultUnavailableError(f"identity token answered HTTP {resp.status_code}")
            token: str = resp.json()["data"]["token"]
            return token
        except httpx.HTTPError as exc:
            raise VaultUnavailableError(f"OpenBao unreachable: {type(exc).__name__}") from None
        finally:
            with contextlib.suppress(httpx.HTTPError):
                await http.post("/v1/auth/token/revoke-self", headers=headers)
