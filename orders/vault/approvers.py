"""Approvers in OpenBao: one ed25519 Transit key per approver, signing rights from a group.

Applied as code by :func:`apply_approvers` (called from ``orders.vault.config.apply``),
for every approver in the contract (``orders.contract.approval_policy.APPROVERS``):

* the Transit key ``approver-<name>`` (``ed25519``, not exportable): its private half never
  leaves Vault; anyone allowed to ``read`` the key gets only the public keys per version;
* one policy, :data:`GROUP_POLICY` (rendered from :data:`POLICY_TEMPLATE`), carried by the
  identity group ``order-approvers`` (``orders.vault.people``): ``update`` on
  ``transit/sign/approver-{{identity.entity.name}}`` and nothing else. OpenBao fills the
  template with the caller's *entity* name, so a member signs with their own key only, and
  a person removed from the group can no longer sign at all (group policies are evaluated
  on every request, so even a token issued before the removal loses the right), and what
  they signed before is refused by the workflow, which reads membership (and the key
  versions in force) again at verification time (``orders.approvals``).

Approvers are people like any other (``orders.devstack.people.ensure_dev_users`` creates the
dev ones, passwords under ``.orders/dev/secrets/approver-<name>``). :func:`sign_as` logs an
approver in, has Vault sign a message with the approver's own key, and revokes the token.
"""

from __future__ import annotations

import base64
import contextlib
from typing import Final

import httpx
import hvac

from orders.contract import approval_policy, transit_names
from orders.contract.approval_policy import Approver
from orders.security.trust import httpx_verify
from orders.security.vault import VaultUnavailableError
from orders.vault import people as vault_people
from orders.vault.people import PersonLoginError, userpass_token

GROUP_POLICY: Final = "order-approvers-sign"
POLICY_TEMPLATE: Final = """\
# Policy of the identity group {group}: each member signs with their own Transit key
# ({prefix}<entity name>), nothing else. Rendered by orders.vault.approvers.

path "{mount}/sign/{prefix}{{{{identity.entity.name}}}}" {{
  capabilities = ["update"]
}}
"""
KEY_PARAMS: Final = {"type": "ed25519", "exportable": False, "allow_plaintext_backup": False}


def group_policy() -> str:
    """The HCL policy of the ``order-approvers`` group."""
    return POLICY_TEMPLATE.format(
        group=vault_people.APPROVERS_GROUP,
        mount=transit_names.TRANSIT_MOUNT,
        prefix=approval_policy.APPROVER_KEY_PREFIX,
    )


def group_policies() -> dict[str, tuple[str, ...]]:
    """People group -> policies it carries (for ``orders.vault.people.apply_people``)."""
    return {vault_people.APPROVERS_GROUP: (GROUP_POLICY,)}


def signs_with(approver: Approver) -> str:
    """The Transit path a member of ``order-approvers`` named like ``approver`` may update."""
    return f"{transit_names.TRANSIT_MOUNT}/sign/{approver.transit_key}"


def apply_approvers(client: hvac.Client) -> list[str]:
    """Create every approver's key and the group's signing policy; idempotent.

    An existing key is kept. Per-approver policies of earlier versions are deleted: the
    right to sign comes from the group only.

    Returns:
        The Vault paths written.
    """
    written: list[str] = []
    for approver in approval_policy.APPROVERS:
        path = f"{transit_names.TRANSIT_MOUNT}/keys/{approver.transit_key}"
        client.write_data(path, data=KEY_PARAMS)
        written.append(path)
    client.sys.create_or_update_policy(GROUP_POLICY, group_policy())
    written.append(f"sys/policies/acl/{GROUP_POLICY}")
    for name in client.sys.list_acl_policies()["data"]["keys"]:
        if name.startswith(approval_policy.APPROVER_KEY_PREFIX):
            client.sys.delete_policy(name)
            written.append(f"-sys/policies/acl/{name}")
    return written


async def sign_as(
    vault_addr: str,
    name: str,
    password: str,
    message: bytes,
    *,
    key: str | None = None,
    verify: str | bool = True,
    timeout: float = 10.0,
) -> str:
    """Log in as approver ``name`` and have Vault sign ``message`` with its key.

    Args:
        vault_addr: OpenBao address.
        name: Approver (userpass user).
        password: Its password.
        message: The exact bytes to sign (the canonical approval message).
        key: Transit key to ask for (default: the approver's own; anything else is denied
            by its policy, which the tests use).
        verify: TLS verification.
        timeout: Per-request timeout.

    Returns:
        The Transit signature, ``vault:vN:<base64>``.

    Raises:
        PersonLoginError: Wrong name or password, or Vault denied signing with ``key``.
        VaultUnavailableError: OpenBao unreachable or failing.
    """
    key = key or approval_policy.approver_key(name)
    async with httpx.AsyncClient(
        base_url=vault_addr, verify=httpx_verify(verify), timeout=timeout
    ) as http:
        headers = {"X-Vault-Token": await userpass_token(http, name, password)}
        try:
            resp = await http.post(
                f"/v1/{transit_names.TRANSIT_MOUNT}/sign/{key}",
                json={"input": base64.b64encode(message).decode()},
                headers=headers,
            )
            if resp.status_code in (400, 403):
                raise PersonLoginError(f"{name} may not sign with {key}")
            if resp.status_code != 200:
                raise VaultUnavailableError(f"transit sign answered HTTP {resp.status_code}")
            signature: str = resp.json()["data"]["signature"]
            return signature
        except httpx.HTTPError as exc:
            raise VaultUnavailableError(f"OpenBao unreachable: {type(exc).__name__}") from None
        finally:
            with contextlib.suppress(httpx.HTTPError):
                await http.post("/v1/auth/token/revoke-self", headers=headers)
