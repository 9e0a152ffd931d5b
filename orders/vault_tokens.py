"""Identities' own Temporal JWTs, minted by OpenBao's identity-token engine (as code).

An authorizing Temporal server (docker-compose, kind) refuses calls without a JWT whose
``permissions`` claim grants the namespace. People get theirs from the OIDC provider
(:mod:`orders.vault_people`); machine identities from the same control plane:

* the RS256 key ``orders-machines`` (:data:`orders.identities.TEMPORAL_TOKEN_KEY`), rotated
  daily, usable only by the roles below (``allowed_client_ids``);
* one role per identity that calls Temporal, ``identity/oidc/role/<identity>``, whose
  template is the identity's fixed permissions
  (:func:`orders.identities.temporal_permissions`: ``orders:write`` for workers, as
  Temporal's default authorizer requires to poll, and for the client) and whose lifetime
  is minutes (``Ttls.temporal_token``);
* each identity's policy reads only its own ``identity/oidc/token/<identity>``. OpenBao
  signs a token for the *entity* of the caller's Vault token, which the identity's
  Kubernetes-auth login created, so ``sub`` is that entity.

The Temporal server verifies signatures with the key set published, unauthenticated, at
``<vault>/v1/identity/oidc/.well-known/keys`` (:func:`jwks_url_for`, the one place that
path is spelled). Roles no longer in the contract are deleted.
"""

from __future__ import annotations

import json
from typing import Any, Final

import hvac

from orders import identities
from orders.identities import Identity
from orders.vault_people import PERMISSIONS_CLAIM

JWKS_PATH: Final = "/v1/identity/oidc/.well-known/keys"
"""Where OpenBao publishes the public keys of its identity tokens."""
KEY_ROTATION: Final = "24h"
KEY_VERIFICATION_TTL: Final = "24h"
"""How long a rotated-out key still verifies: must exceed every token's lifetime."""
MANAGED_KEY: Final = identities.TEMPORAL_TOKEN_KEY


def jwks_url_for(vault_base: str) -> str:
    """The identity tokens' JWKS for an OpenBao reached at ``vault_base``."""
    return vault_base.rstrip("/") + JWKS_PATH


def token_path(identity: Identity) -> str:
    """Where ``identity`` reads a fresh token with its own Vault token."""
    return f"identity/oidc/token/{identity.temporal_token_role}"


def role(identity: Identity, ttl: int) -> dict[str, Any]:
    """Body of ``identity/oidc/role/<identity>``: the fixed permissions, a short lifetime."""
    permissions = identities.temporal_permissions(identity)
    if not permissions:
        raise ValueError(f"{identity.name} calls no Temporal API: it gets no token role")
    return {
        "key": MANAGED_KEY,
        "template": json.dumps({PERMISSIONS_CLAIM: list(permissions)}),
        "ttl": ttl,
    }


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
    wanted = {i.temporal_token_role: i for i in identities.temporal_token_identities()}
    client_ids: list[str] = []
    for name, ident in wanted.items():
        client.write_data(f"identity/oidc/role/{name}", data=role(ident, ttl))
        written.append(f"identity/oidc/role/{name}")
        client_ids.append(client.read(f"identity/oidc/role/{name}")["data"]["client_id"])
    # Only these roles may sign with the key (each role's client id is its tokens' aud).
    client.write_data(
        f"identity/oidc/key/{MANAGED_KEY}", data=key | {"allowed_client_ids": client_ids}
    )
    listed = client.list("identity/oidc/role") or {}
    for name in listed.get("data", {}).get("keys", []):
        if name in wanted:
            continue
        found = client.read(f"identity/oidc/role/{name}") or {}
        if found.get("data", {}).get("key") == MANAGED_KEY:
            # An identity dropped from the contract must stop getting Temporal tokens.
            client.delete(f"identity/oidc/role/{name}")
            written.append(f"-identity/oidc/role/{name}")
    return written
