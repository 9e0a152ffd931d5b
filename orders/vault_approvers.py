"""Approvers in OpenBao: one ed25519 Transit key and one policy per approver.

Applied as code by :func:`apply_approvers` (called from ``orders.vault_config.apply``),
for every approver in the contract (``orders.identities.APPROVERS``):

* the Transit key ``approver-<name>`` (``ed25519``, not exportable): its private half never
  leaves Vault; anyone allowed to ``read`` the key gets only the public keys per version;
* the policy ``approver-<name>``, rendered from :data:`POLICY_TEMPLATE`: ``update`` on
  ``transit/sign/approver-<name>`` and nothing else (a unit test checks the rendering).

The dev stack adds one userpass user per approver (:func:`ensure_dev_approvers`, random
passwords under ``.orders/dev/secrets/approver-<name>``, 0600) whose tokens carry only that
policy. :func:`sign_as` logs an approver in, has Vault sign a message with the approver's
own key, and revokes the token.
"""

from __future__ import annotations

import base64
import contextlib
from typing import TYPE_CHECKING, Final

import httpx
import hvac

from orders import identities
from orders.identities import Approver
from orders.security.vault import VaultUnavailableError
from orders.vault_people import USERNAME_PATTERN, USERPASS_MOUNT, PersonLoginError, userpass_token

if TYPE_CHECKING:
    from orders.devstack.state import StackPaths

POLICY_TEMPLATE: Final = """\
# Policy of approver {name}: sign with the approver's own Transit key, nothing else.
# Rendered by orders.vault_approvers from the contract (orders.identities.APPROVERS).

path "{mount}/sign/{key}" {{
  capabilities = ["update"]
}}
"""
KEY_PARAMS: Final = {"type": "ed25519", "exportable": False, "allow_plaintext_backup": False}


def approver_policy(approver: Approver) -> str:
    """The HCL policy of ``approver``."""
    return POLICY_TEMPLATE.format(
        name=approver.name, mount=identities.TRANSIT_MOUNT, key=approver.transit_key
    )


def apply_approvers(client: hvac.Client) -> list[str]:
    """Create every approver's key and policy; idempotent (an existing key is kept).

    Returns:
        The Vault paths written.
    """
    written: list[str] = []
    for approver in identities.APPROVERS:
        path = f"{identities.TRANSIT_MOUNT}/keys/{approver.transit_key}"
        client.write_data(path, data=KEY_PARAMS)
        written.append(path)
        client.sys.create_or_update_policy(approver.transit_key, approver_policy(approver))
        written.append(f"sys/policies/acl/{approver.transit_key}")
    return written


def password_name(name: str) -> str:
    """Secret file holding a dev approver's password."""
    return identities.approver_key(name)


def ensure_dev_approvers(client: hvac.Client, paths: StackPaths) -> list[str]:
    """A userpass login per approver carrying only its own policy (passwords 0600)."""
    for approver in identities.APPROVERS:
        client.write_data(
            f"auth/{USERPASS_MOUNT}/users/{approver.name}",
            data={
                "password": paths.secret(password_name(approver.name)),
                "token_policies": [approver.transit_key],
                "token_no_default_policy": True,
                "token_ttl": 120,
                "token_max_ttl": 300,
                "token_type": "service",
            },
        )
    return [a.name for a in identities.APPROVERS]


def dev_password(paths: StackPaths, name: str) -> str:
    """A dev approver's password (read from ``.orders/dev/secrets/``)."""
    path = paths.secrets / password_name(name)
    if not USERNAME_PATTERN.match(name) or not path.exists():
        known = ", ".join(a.name for a in identities.APPROVERS)
        raise PersonLoginError(f"no dev approver {name!r}; known: {known}")
    return path.read_text().strip()


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
    key = key or identities.approver_key(name)
    async with httpx.AsyncClient(base_url=vault_addr, verify=verify, timeout=timeout) as http:
        headers = {"X-Vault-Token": await userpass_token(http, name, password)}
        try:
            resp = await http.post(
                f"/v1/{identities.TRANSIT_MOUNT}/sign/{key}",
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
