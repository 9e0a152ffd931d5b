"""Render an identity's Vault policy (``vault/policies/<identity>.hcl``) from the contract.

The committed policy files stay literal: a widened policy is a visible diff, and a unit test
checks that every file grants exactly what :mod:`orders.identities` implies. This module
writes the *first* version of a new identity's file (``orders new``), so nobody copies a
neighbour's policy and edits names by hand. The rendered text grants exactly the paths
that test expects, no more.
"""

from __future__ import annotations

from typing import Final

from orders import identities
from orders.identities import Identity

TRANSIT_PATHS: Final[dict[str, tuple[str, str]]] = {
    "datakey": ("transit/datakey/plaintext/{}", "update"),
    "decrypt": ("transit/decrypt/{}", "update"),
    "encrypt": ("transit/encrypt/{}", "update"),
    "read-key": ("transit/keys/{}", "read"),
}
"""Transit operation (as in :func:`orders.identities.transit_rights`) -> (path, capability)."""

TOKEN_SELF_PATHS: Final[tuple[tuple[str, str], ...]] = (
    ("auth/token/lookup-self", "read"),
    ("auth/token/renew-self", "update"),
    ("auth/token/revoke-self", "update"),
)
"""What every identity's Vault session does with its own token: look it up (is a 403 an
expired login or a denial?), renew it, revoke it at shutdown or after a replacement. The
Kubernetes-auth roles set ``token_no_default_policy``, so these are the only token paths."""


def _stanza(path: str, capability: str) -> str:
    return f'path "{path}" {{\n  capabilities = ["{capability}"]\n}}\n'


def render_policy(identity: Identity) -> str:
    """The HCL policy ``identity`` needs: its own credentials and its Transit operations.

    Args:
        identity: An identity of the contract.

    Returns:
        The policy text, ending with a newline.
    """
    parts = [
        f"# Policy of identity {identity.name}, rendered by `orders new` from "
        "orders/identities.py.\n"
        "# Applied by `orders vault apply`; the Vault-isolation tests prove every other path "
        "is denied.\n"
    ]
    parts.append(
        "\n# Its own Vault token only: look up, renew, revoke (no `default` policy).\n"
        + "".join(_stanza(path, capability) for path, capability in TOKEN_SELF_PATHS)
    )
    if identity.has_db_role:
        role = identity.db_role
        parts.append(
            "\n# Obtain a dynamic Postgres credential for this identity's role only.\n"
            + _stanza(f"database/creds/{role}", "read")
            + "\n# Renew and revoke only leases of that role (the lease id is the path below).\n"
            + _stanza(f"sys/leases/renew/database/creds/{role}/*", "update")
            + _stanza(f"sys/leases/revoke/database/creds/{role}/*", "update")
        )
    else:
        # The explicit deny wins over any other policy attached to the token by mistake.
        parts.append("\n# No database credential at all.\n" + _stanza("database/*", "deny"))
    rights = identities.transit_rights(identity)
    if rights:
        parts.append("\n# Vault Transit: payload data keys and need-to-know fields.\n")
        for key in sorted(rights):
            for op in sorted(rights[key]):
                path, capability = TRANSIT_PATHS[op]
                parts.append(_stanza(path.format(key), capability))
    else:
        parts.append("\n# No Transit access: this identity never sees a Temporal payload.\n")
    reads = identities.registry_reads(identity)
    if reads:
        parts.append(
            "\n# Who may sign approvals now: the approvers' group and each approver's entity.\n"
            + "".join(_stanza(path, "read") for path in reads)
        )
    if identities.temporal_permissions(identity):
        parts.append(
            "\n# Its own short-lived Temporal JWT (orders.vault_tokens), no other identity's.\n"
            + _stanza(f"identity/oidc/token/{identity.temporal_token_role}", "read")
        )
    parts.append(
        f"\n# Vault PKI: a short-lived client certificate for this identity only "
        f"(CN = {identity.name}).\n"
        + _stanza(f"{identities.PKI_MOUNT}/issue/{identities.pki_role(identity)}", "update")
    )
    return "".join(parts)
