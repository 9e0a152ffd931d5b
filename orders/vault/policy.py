"""Vault policies: the shipped files, and the first version of a new identity's.

The policy files stay literal HCL under the top-level ``vault/`` (``policies/`` per
identity, ``people/``, ``setup/``): a widened policy is a visible diff, and a unit test
checks that every file grants exactly what :mod:`orders.contract.identities` implies. They ship as
package data of ``orders`` (``orders/vault_hcl``, a symlink to ``vault/`` in the checkout,
real files in the wheel) and are read with :mod:`importlib.resources`, so a plain wheel
install (the image, ``pip install``) applies the same files a checkout does.

:func:`render_policy` writes the *first* version of a new identity's file (``orders new``),
so nobody copies a neighbour's policy and edits names by hand. The rendered text grants
exactly the paths that test expects, no more.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Final

from orders.contract import approval_policy, identities, pki_names, temporal_access, transit_names
from orders.contract.identities import Identity

SHIPPED: Final = "vault_hcl"
"""Package data directory of ``orders`` that holds the policy files."""
SOURCE_DIR: Final = Path(__file__).resolve().parents[2] / "vault"
"""The checkout's ``vault/``: where ``orders new`` writes a new policy (the one copy)."""


def shipped(*parts: str) -> Traversable:
    """A shipped policy file or directory, e.g. ``shipped("people", "orders-person.hcl")``."""
    return resources.files("orders").joinpath(SHIPPED, *parts)


def read_shipped(*parts: str) -> str:
    """The text of a shipped policy file.

    Raises:
        FileNotFoundError: Naming the file, if the package does not ship it.
    """
    file = shipped(*parts)
    if not file.is_file():
        raise FileNotFoundError(f"no policy file vault/{'/'.join(parts)} in this install")
    return file.read_text(encoding="utf-8")


def policy_text(identity: Identity) -> str:
    """The shipped policy of ``identity`` (``vault/policies/<policy>.hcl``)."""
    return read_shipped("policies", f"{identity.vault_policy}.hcl")


def policy_file(identity: Identity) -> Path:
    """Where ``identity``'s policy file lives in the checkout (for ``orders new``)."""
    return SOURCE_DIR / "policies" / f"{identity.vault_policy}.hcl"


TRANSIT_PATHS: Final[dict[str, tuple[str, ...]]] = {
    "datakey": ("transit/datakey/plaintext/{}", "update"),
    "decrypt": ("transit/decrypt/{}", "update"),
    "encrypt": ("transit/encrypt/{}", "update"),
    # Encrypting with a key that does not exist yet creates it (Transit's upsert).
    "encrypt-create": ("transit/encrypt/{}", "create", "update"),
    "read-key": ("transit/keys/{}", "read"),
    "hmac": ("transit/hmac/{}", "update"),
    # Destroy: allow deletion (``<key>/config``, matched by the glob) and delete the key.
    "erase": ("transit/keys/{}", "update", "delete"),
}
"""Transit operation (``transit_names.transit_rights``) -> (path, capabilities…)."""

TOKEN_SELF_PATHS: Final[tuple[tuple[str, str], ...]] = (
    ("auth/token/lookup-self", "read"),
    ("auth/token/renew-self", "update"),
    ("auth/token/revoke-self", "update"),
)
"""What every identity's Vault session does with its own token: look it up (is a 403 an
expired login or a denial?), renew it, revoke it at shutdown or after a replacement. The
Kubernetes-auth roles set ``token_no_default_policy``, so these are the only token paths."""


def _stanza(path: str, *capabilities: str) -> str:
    caps = ", ".join(f'"{c}"' for c in capabilities)
    return f'path "{path}" {{\n  capabilities = [{caps}]\n}}\n'


def render_policy(identity: Identity) -> str:
    """The HCL policy ``identity`` needs: its own credentials and its Transit operations.

    Args:
        identity: An identity of the contract.

    Returns:
        The policy text, ending with a newline.
    """
    parts = [
        f"# Policy of identity {identity.name}, rendered by `orders new` from "
        "orders/contract/identities.py.\n"
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
    rights = transit_names.transit_rights(identity)
    if rights:
        parts.append("\n# Vault Transit: payload data keys and need-to-know fields.\n")
        for key in sorted(rights):
            for op in sorted(rights[key]):
                path, *capabilities = TRANSIT_PATHS[op]
                parts.append(_stanza(path.format(key), *capabilities))
    else:
        parts.append("\n# No Transit access: this identity never sees a Temporal payload.\n")
    reads = approval_policy.registry_reads(identity)
    if reads:
        parts.append(
            "\n# Who may sign approvals now: the approvers' group and each approver's entity.\n"
            + "".join(_stanza(path, "read") for path in reads)
        )
    if temporal_access.temporal_permissions(identity):
        parts.append(
            "\n# Its own short-lived Temporal JWT (orders.vault.tokens), no other identity's.\n"
            + _stanza(f"identity/oidc/token/{identity.temporal_token_role}", "read")
        )
    parts.append(
        f"\n# Vault PKI: a short-lived client certificate for this identity only "
        f"(CN = {identity.name}).\n"
        + _stanza(f"{pki_names.PKI_MOUNT}/issue/{pki_names.pki_role(identity)}", "update")
    )
    return "".join(parts)


def show(names: list[str], *, rendered: bool = False) -> str:
    """The policies of ``names`` (every identity when empty), as ``orders vault policy`` prints.

    Args:
        names: Identity names of the contract.
        rendered: Render from the contract (what ``orders new`` writes) instead of reading
            the shipped files (what ``orders vault apply`` applies).

    Raises:
        KeyError: Naming the unknown identity and the known ones.
    """
    chosen = [identities.get(n) for n in names] if names else list(identities.ALL)
    return "\n".join(
        f"# ---- vault/policies/{i.vault_policy}.hcl\n"
        + (render_policy(i) if rendered else policy_text(i))
        for i in chosen
    )
