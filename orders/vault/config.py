"""Vault (OpenBao) configuration as code, applied idempotently to any Vault.

What is applied, all derived from the identity contract except the policies, which are
literal files under ``vault/policies/`` (so a widened policy is a visible diff and fails
the isolation tests), shipped as package data (:mod:`orders.vault.policy`):

* Kubernetes auth pointed at the cluster (or the local identity endpoint) with its CA.
  Locally there is *no* ``token_reviewer_jwt``: Vault reviews each login with the client's
  own JWT. A real cluster passes a dedicated reviewer ServiceAccount's token instead
  (``ApplyConfig.token_reviewer_jwt``; see k8s/README.md).
* One Kubernetes-auth role per identity, bound to its ServiceAccount name + namespace and
  audience ``vault``, carrying only that identity's policy.
* The database secrets engine with one role per database identity: a LOGIN role with
  ``VALID UNTIL``, member of the identity's NOLOGIN group role; revocation terminates its
  sessions and drops it.
* People (``orders.vault.people``): userpass, identity groups mapped to Temporal
  permissions, and the OIDC provider whose ID tokens the codec server and Temporal accept.
* Approvers (``orders.vault.approvers``): one ed25519 Transit key per approver in the
  contract; the right to sign comes from the ``order-approvers`` group's policy.
* PKI (``orders.vault.pki``): root and intermediate CAs, one client-certificate role per
  identity (each policy may issue only its own), one server-certificate role.
* Temporal JWTs (``orders.vault.tokens``): one identity-token role per identity that calls
  Temporal, carrying its ``permissions``; each policy may read only its own token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

import hvac

from orders.contract import identities, transit_names
from orders.contract.identities import Identity
from orders.vault.approvers import apply_approvers, group_policies
from orders.vault.people import OidcConfig, apply_people
from orders.vault.pki import apply_pki
from orders.vault.policy import policy_text
from orders.vault.tokens import apply_temporal_tokens

K8S_MOUNT: Final = "kubernetes"
DB_MOUNT: Final = "database"

USERNAME_TEMPLATE: Final = "v-{{.RoleName}}-{{unix_time}}-{{random 8 | lowercase}}"
"""Dynamic Postgres users are ``v-<identity>-…``: readable in logs and pg_stat_activity."""


@dataclass(frozen=True)
class Ttls:
    """Lifetimes of Vault tokens and database credentials, in seconds."""

    db_default: int = 60
    db_max: int = 300
    token: int = 120
    token_max: int = 420
    cert: int = 3600
    """Lifetime of identities' client certificates (renewed at ~2/3 of it)."""
    temporal_token: int = 300
    """Lifetime of identities' Temporal JWTs (renewed at ~2/3 of it)."""

    def __post_init__(self) -> None:
        if not 0 < self.db_default <= self.db_max:
            raise ValueError("need 0 < db_default <= db_max")
        if not 0 < self.token <= self.token_max:
            raise ValueError("need 0 < token <= token_max")
        if self.cert < 10:
            raise ValueError("need cert >= 10")
        if not 10 <= self.temporal_token <= 3600:
            # Minutes, not hours: a leaked token must die soon; the key verifies for 24 h.
            raise ValueError("need 10 <= temporal_token <= 3600")
        if self.token_max < self.db_max:
            # A lease dies with the token that created it; the token must outlive it.
            raise ValueError("token_max must be >= db_max")


@dataclass(frozen=True)
class ApplyConfig:
    """Where the cluster and the database are, as Vault itself must reach them.

    Attributes:
        kubernetes_host: URL of the Kubernetes API (or the local identity endpoint).
        kubernetes_ca_pem: PEM of the CA that signed that endpoint's TLS certificate.
        db_connection_url: Templated URL, e.g. ``postgresql://{{username}}:{{password}}@h:p/db``.
        db_admin_username: Postgres role Vault's plugin logs in as.
        db_admin_password: Its initial password, used only when Vault has no connection yet
            (then rotated away when ``rotate_db_root``, so only Vault knows it).
        ttls: Token and credential lifetimes.
        rotate_db_root: Rotate the admin password so only Vault knows it.
        token_reviewer_jwt: JWT Vault presents to the TokenReview API. Unset (the local
            stack) means none: each login is reviewed with the client's own JWT. A real
            apiserver refuses a worker's ``aud: vault`` token as a TokenReview bearer, so a
            cluster sets a dedicated reviewer ServiceAccount's token (see k8s/README.md).
        oidc: The people's OIDC provider: issuer base and the clients' redirect URIs.
    """

    kubernetes_host: str
    kubernetes_ca_pem: str
    db_connection_url: str
    db_admin_username: str
    db_admin_password: str
    ttls: Ttls = Ttls()
    rotate_db_root: bool = True
    token_reviewer_jwt: str | None = None
    oidc: OidcConfig = field(default_factory=OidcConfig)


def creation_statements(identity: Identity) -> list[str]:
    """SQL Vault runs to create a dynamic user of ``identity``."""
    return [
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
        "VALID UNTIL '{{expiration}}' INHERIT NOCREATEDB NOCREATEROLE CONNECTION LIMIT 32;",
        f'GRANT "{identity.db_group}" TO "{{{{name}}}}";',
    ]


REVOCATION_STATEMENTS: Final = [
    # Sessions first, so nothing keeps working under a revoked identity.
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}';",
    'DROP ROLE IF EXISTS "{{name}}";',
]
RENEW_STATEMENTS: Final = ["ALTER ROLE \"{{name}}\" VALID UNTIL '{{expiration}}';"]


def k8s_role(identity: Identity, ttls: Ttls) -> dict[str, Any]:
    """Body of ``auth/kubernetes/role/<identity>``."""
    return {
        "bound_service_account_names": [identity.service_account],
        "bound_service_account_namespaces": [identities.K8S_NAMESPACE],
        "audience": identities.VAULT_AUDIENCE,
        "alias_name_source": "serviceaccount_name",
        "token_policies": [identity.vault_policy],
        "token_ttl": ttls.token,
        "token_max_ttl": ttls.token_max,
        "token_type": "service",
        # OpenBao's ``default`` policy would add lookup/renew of *any* lease id the identity
        # learns, cubbyhole, wrapping and more; the self-service its session needs is granted
        # explicitly in its own policy (orders.vault.policy.TOKEN_SELF_PATHS).
        "token_no_default_policy": True,
    }


def db_role(identity: Identity, ttls: Ttls) -> dict[str, Any]:
    """Body of ``database/roles/<identity>``."""
    return {
        "db_name": identities.VAULT_DB_CONNECTION,
        "creation_statements": creation_statements(identity),
        "revocation_statements": REVOCATION_STATEMENTS,
        "renew_statements": RENEW_STATEMENTS,
        "default_ttl": ttls.db_default,
        "max_ttl": ttls.db_max,
    }


def _ensure_auth(client: hvac.Client, path: str, method: str) -> None:
    if f"{path}/" not in client.sys.list_auth_methods()["data"]:
        client.sys.enable_auth_method(method, path=path)


def _ensure_secrets(client: hvac.Client, path: str, engine: str) -> None:
    if f"{path}/" not in client.sys.list_mounted_secrets_engines()["data"]:
        client.sys.enable_secrets_engine(engine, path=path)


def apply(client: hvac.Client, config: ApplyConfig) -> list[str]:
    """Apply everything; safe to run any number of times.

    Args:
        client: An hvac client with a token allowed to configure Vault (root in dev).
        config: Cluster and database endpoints.

    Returns:
        The Vault paths written, for the caller's log.
    """
    written: list[str] = []

    def write(path: str, data: dict[str, Any]) -> None:
        client.write_data(path, data=data)
        written.append(path)

    for ident in identities.ALL:
        client.sys.create_or_update_policy(ident.vault_policy, policy_text(ident))
        written.append(f"sys/policies/acl/{ident.vault_policy}")

    _ensure_auth(client, K8S_MOUNT, "kubernetes")
    write(
        f"auth/{K8S_MOUNT}/config",
        {
            "kubernetes_host": config.kubernetes_host,
            "kubernetes_ca_cert": config.kubernetes_ca_pem,
            "disable_local_ca_jwt": True,
            # Without a reviewer JWT each login is reviewed with its own JWT (local stack).
            "token_reviewer_jwt": config.token_reviewer_jwt or "",
        },
    )
    for ident in identities.ALL:
        write(f"auth/{K8S_MOUNT}/role/{ident.vault_role}", k8s_role(ident, config.ttls))

    _ensure_secrets(client, transit_names.TRANSIT_MOUNT, "transit")
    for key, params in transit_keys().items():
        write(f"{transit_names.TRANSIT_MOUNT}/keys/{key}", params)

    _ensure_secrets(client, DB_MOUNT, "database")
    db_idents = list(identities.db_identities())
    connection_path = f"{DB_MOUNT}/config/{identities.VAULT_DB_CONNECTION}"
    first_time = not db_connection_exists(client)
    connection: dict[str, Any] = {
        "plugin_name": "postgresql-database-plugin",
        "connection_url": config.db_connection_url,
        "password_authentication": "scram-sha-256",
        "allowed_roles": [i.db_role for i in db_idents],
        "username_template": USERNAME_TEMPLATE,
        "verify_connection": True,
    }
    if first_time:
        # Afterwards Vault merges updates and keeps the (rotated) admin credential it has.
        connection |= {"username": config.db_admin_username, "password": config.db_admin_password}
    write(connection_path, connection)
    for ident in db_idents:
        write(f"{DB_MOUNT}/roles/{ident.db_role}", db_role(ident, config.ttls))
    # Roles that no longer exist in the contract must not keep issuing credentials.
    existing = client.list(f"{DB_MOUNT}/roles") or {}
    for name in existing.get("data", {}).get("keys", []):
        if name not in {i.db_role for i in db_idents}:
            client.delete(f"{DB_MOUNT}/roles/{name}")
            written.append(f"-{DB_MOUNT}/roles/{name}")
    if config.rotate_db_root and first_time:
        write(f"{DB_MOUNT}/rotate-root/{identities.VAULT_DB_CONNECTION}", {})
    written += apply_approvers(client)
    written += apply_pki(client, config.ttls.cert)
    written += apply_people(client, config.oidc, group_policies())
    written += apply_temporal_tokens(client, config.ttls.temporal_token)
    return written


def transit_keys() -> dict[str, dict[str, Any]]:
    """Transit keys and their creation parameters (creating an existing key is a no-op).

    Every key but one only wraps data keys (envelope encryption); binding to a workflow or
    an order happens in the AEAD associated data. The codec server's cookie key is only
    used for HMAC (its cookie-sealing key is derived from it), and so is the key naming the
    customers' keys. No key is exportable, and none may be deleted. The per-customer keys
    are not made here: the client's first seal for a customer creates theirs.
    """
    return {
        key: {"type": "aes256-gcm96"}
        for key in (
            transit_names.PAYLOAD_KEY,
            transit_names.CODEC_COOKIE_KEY,
            transit_names.CUSTOMER_NAMES_KEY,
            *(s.key for s in transit_names.SEALED_FIELDS),
        )
    }


def db_connection_exists(client: hvac.Client) -> bool:
    """Whether Vault already has the database connection (and so its admin credential)."""
    return client.read(f"{DB_MOUNT}/config/{identities.VAULT_DB_CONNECTION}") is not None


def describe(config: ApplyConfig) -> str:
    """The roles as JSON, for review (``orders vault show``)."""
    return json.dumps(
        {
            "kubernetes_roles": {i.vault_role: k8s_role(i, config.ttls) for i in identities.ALL},
            "database_roles": {
                i.db_role: db_role(i, config.ttls) for i in identities.db_identities()
            },
        },
        indent=2,
    )
