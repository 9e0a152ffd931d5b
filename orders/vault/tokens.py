"""Identities' own Temporal JWTs, minted by OpenBao's identity-token engine (as code).

An authorizing Temporal server (docker-compose, kind) refuses calls without a JWT whose
``permissions`` claim grants the namespace. People get theirs from the OIDC provider
(:mod:`orders.vault.people`); machine identities from the same control plane:

* the RS256 key ``orders-machines``
  (:data:`orders.contract.temporal_access.TEMPORAL_TOKEN_KEY`), rotated daily, usable only
  by the roles below (``allowed_client_ids``);
* one role per identity that calls Temporal, ``identity/oidc/role/<identity>``, whose
  ``client_id`` (the tokens' ``aud``) is ``temporal:<identity>``
  (:func:`orders.contract.temporal_access.temporal_audience`, checked by the authorization
  front against the caller's certificate) and whose template is the identity's fixed permissions
  (:func:`orders.contract.temporal_access.temporal_permissions`: ``orders:write`` for workers, as
  Temporal's default authorizer requires to poll, and for the client) and whose lifetime
  is minutes (``Ttls.temporal_token``);
* each identity's policy reads only its own ``identity/oidc/token/<identity>``. OpenBao
  signs a token for the *entity* of the caller's Vault token, which the identity's
  Kubernetes-auth login created, so ``sub`` is that entity.

The Temporal server verifies signatures with the key set published, unauthenticated, at
``<vault>/v1/identity/oidc/.well-known/keys`` (:func:`jwks_url_for`, the one place that
path is spelled). Roles no longer in the contract are deleted.

One more role, ``temporal-admin``
(:data:`orders.contract.temporal_access.TEMPORAL_ADMIN_TOKEN_ROLE`), signs the JWT of the
deployment's namespace-registration step
(:func:`orders.contract.temporal_access.temporal_admin_permissions`, a two-minute lifetime).
Its policy (``vault/setup/temporal-admin.hcl``) is attached by no auth role: the step,
holding the root token, creates a short-lived token through the token role of the same name
(with an entity alias, since OpenBao signs identity tokens only for an entity), reads one
JWT with it and revokes it (:func:`mint_admin_token`).

And ``keda-scaler`` (:mod:`orders.contract.keda`): the JWT KEDA's Temporal scaler sends as its
``apiKey`` (``<namespace>:read``, what Temporal's ``default`` authorizer wants for
``DescribeTaskQueue``; the front admits that principal to nothing else). Read only through the
``keda-scaler`` policy, which only KEDA's operator ServiceAccount logs into
(:func:`orders.vault.config.keda_role`).
"""

from __future__ import annotations

import json
from typing import Any, Final

import hvac

from orders.contract import keda, temporal_access
from orders.contract.identities import Identity
from orders.vault.people import PERMISSIONS_CLAIM
from orders.vault.policy import read_shipped

ISSUER_PATH: Final = "/v1/identity/oidc"
"""Identity tokens' ``iss`` is OpenBao's ``api_addr`` followed by this (no issuer is set)."""
JWKS_PATH: Final = f"{ISSUER_PATH}/.well-known/keys"
"""Where OpenBao publishes the public keys of its identity tokens."""
KEY_ROTATION: Final = "24h"
KEY_VERIFICATION_TTL: Final = "24h"
"""How long a rotated-out key still verifies: must exceed every token's lifetime."""
MANAGED_KEY: Final = temporal_access.TEMPORAL_TOKEN_KEY
ADMIN_ROLE: Final = temporal_access.TEMPORAL_ADMIN_TOKEN_ROLE
ADMIN_TOKEN_TTL: Final = 120
"""Lifetime of the namespace-registration JWT (s): registration takes seconds."""
ADMIN_VAULT_TOKEN_TTL: Final = 60
"""Lifetime of the Vault token that reads it (s); it is revoked right after the read."""
ADMIN_POLICY_FILE: Final = ("setup", f"{ADMIN_ROLE}.hcl")
"""The admin policy's file among the shipped ones (:func:`orders.vault.policy.shipped`)."""


def jwks_url_for(vault_base: str) -> str:
    """The identity tokens' JWKS for an OpenBao reached at ``vault_base``."""
    return vault_base.rstrip("/") + JWKS_PATH


def issuer_for(api_addr: str) -> str:
    """The identity tokens' ``iss`` of an OpenBao whose ``api_addr`` is ``api_addr``."""
    return api_addr.rstrip("/") + ISSUER_PATH


def token_path(identity: Identity) -> str:
    """Where ``identity`` reads a fresh token with its own Vault token."""
    return f"identity/oidc/token/{identity.temporal_token_role}"


def role(identity: Identity, ttl: int) -> dict[str, Any]:
    """Body of ``identity/oidc/role/<identity>``: the fixed permissions, a short lifetime."""
    permissions = temporal_access.temporal_permissions(identity)
    if not permissions:
        raise ValueError(f"{identity.name} calls no Temporal API: it gets no token role")
    return {
        "key": MANAGED_KEY,
        "template": json.dumps({PERMISSIONS_CLAIM: list(permissions)}),
        "ttl": ttl,
        # The token's aud: the front checks it against the caller's certificate.
        "client_id": temporal_access.temporal_audience(identity.temporal_token_role),
    }


def admin_role() -> dict[str, Any]:
    """Body of ``identity/oidc/role/temporal-admin``: namespace admin, two minutes."""
    return {
        "key": MANAGED_KEY,
        "template": json.dumps(
            {PERMISSIONS_CLAIM: list(temporal_access.temporal_admin_permissions())}
        ),
        "ttl": ADMIN_TOKEN_TTL,
        "client_id": temporal_access.temporal_audience(ADMIN_ROLE),
    }


def keda_role(ttl: int) -> dict[str, Any]:
    """Body of ``identity/oidc/role/keda-scaler``: read on the namespace, a short lifetime."""
    return {
        "key": MANAGED_KEY,
        "template": json.dumps({PERMISSIONS_CLAIM: list(keda.temporal_permissions())}),
        "ttl": ttl,
        # The token's aud: the front accepts it from the keda-scaler certificate only.
        "client_id": temporal_access.temporal_audience(keda.PRINCIPAL),
    }


def admin_token_role() -> dict[str, Any]:
    """Body of ``auth/token/roles/temporal-admin``: the only way to hold the admin policy.

    Orphan, not renewable, a minute long, and bound to one entity alias, so the token has
    the entity OpenBao needs to sign an identity token.
    """
    return {
        "allowed_policies": [ADMIN_ROLE],
        "disallowed_policies": ["root"],
        "allowed_entity_aliases": [ADMIN_ROLE],
        "orphan": True,
        "renewable": False,
        "token_type": "service",
        "token_ttl": ADMIN_VAULT_TOKEN_TTL,
        "token_explicit_max_ttl": ADMIN_VAULT_TOKEN_TTL,
        "token_no_default_policy": True,
    }


def apply_admin_role(client: hvac.Client) -> list[str]:
    """The admin policy, its token role and its identity-token role; idempotent."""
    client.sys.create_or_update_policy(ADMIN_ROLE, read_shipped(*ADMIN_POLICY_FILE))
    client.write_data(f"auth/token/roles/{ADMIN_ROLE}", data=admin_token_role())
    client.write_data(f"identity/oidc/role/{ADMIN_ROLE}", data=admin_role())
    return [
        f"sys/policies/acl/{ADMIN_ROLE}",
        f"auth/token/roles/{ADMIN_ROLE}",
        f"identity/oidc/role/{ADMIN_ROLE}",
    ]


def mint_admin_token(root: hvac.Client, verify: str | bool) -> str:
    """One namespace-admin JWT for the registration step; the Vault token is revoked at once.

    Args:
        root: A client allowed to create tokens through the ``temporal-admin`` token role
            (the deployment's root token).
        verify: How OpenBao's certificate is verified (CA file, as for ``root``).

    Returns:
        The signed JWT (``permissions``:
        :func:`orders.contract.temporal_access.temporal_admin_permissions`).
    """
    created = root.write_data(
        f"auth/token/create/{ADMIN_ROLE}",
        data={"policies": [ADMIN_ROLE], "entity_alias": ADMIN_ROLE, "no_default_policy": True},
    )
    token = created["auth"]["client_token"]
    try:
        holder = hvac.Client(url=root.url, token=token, verify=verify, timeout=30)
        jwt: str = holder.read(f"identity/oidc/token/{ADMIN_ROLE}")["data"]["token"]
    finally:
        # Without the default policy the token cannot revoke itself; root ends it.
        root.auth.token.revoke(token)
    return jwt


def apply_temporal_tokens(client: hvac.Client, ttl: int) -> list[str]:
    """Write the signing key and one role per identity that calls Temporal; idempotent.

    Args:
        client: A client allowed to configure OpenBao (root in dev).
        ttl: Lifetime of every token, in seconds.

    Returns:
        The Vault paths written (and deleted, prefixed ``-``).
    """
    written: list[str] = []
    key = {
        "algorithm": "RS256",
        "rotation_period": KEY_ROTATION,
        "verification_ttl": KEY_VERIFICATION_TTL,
    }
    client.write_data(f"identity/oidc/key/{MANAGED_KEY}", data=key)
    written.append(f"identity/oidc/key/{MANAGED_KEY}")
    wanted = {
        i.temporal_token_role: role(i, ttl) for i in temporal_access.temporal_token_identities()
    }
    wanted[keda.PRINCIPAL] = keda_role(ttl)
    client_ids: list[str] = []
    for name, body in wanted.items():
        client.write_data(f"identity/oidc/role/{name}", data=body)
        written.append(f"identity/oidc/role/{name}")
        client_ids.append(client.read(f"identity/oidc/role/{name}")["data"]["client_id"])
    written += apply_admin_role(client)
    client_ids.append(client.read(f"identity/oidc/role/{ADMIN_ROLE}")["data"]["client_id"])
    # Only these roles may sign with the key (each role's client id is its tokens' aud).
    client.write_data(
        f"identity/oidc/key/{MANAGED_KEY}", data=key | {"allowed_client_ids": client_ids}
    )
    listed = client.list("identity/oidc/role") or {}
    for name in listed.get("data", {}).get("keys", []):
        if name in wanted or name == ADMIN_ROLE:
            continue
        found = client.read(f"identity/oidc/role/{name}") or {}
        if found.get("data", {}).get("key") == MANAGED_KEY:
            # An identity dropped from the contract must stop getting Temporal tokens.
            client.delete(f"identity/oidc/role/{name}")
            written.append(f"-identity/oidc/role/{name}")
    return written
