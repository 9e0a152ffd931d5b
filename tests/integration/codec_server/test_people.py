"""People's identity from OpenBao: who may decode, who may sign, and `orders login`.

Every person gets their ID token from OpenBao's OIDC provider (code flow with PKCE) and
their signing right, if any, from the ``order-approvers`` group.
"""

from __future__ import annotations

import asyncio
import base64

import httpx
import jwt
import pytest

from orders import oidc
from orders.contract import approval_policy
from orders.devstack import people as dev_people
from orders.devstack.state import StackInfo, StackPaths
from orders.security.trust import httpx_verify
from orders.vault import approvers as vault_approvers
from orders.vault import people as vault_people
from orders.vault.people import PersonLoginError
from tests.support import stack as support
from tests.support.stack import orders_cli
from tests.support.stack_codec import NS, Sealer, TokenFor

pytestmark = pytest.mark.integration

VIEWER, NO_GROUP = "dev-viewer", "dev-no-group"
APPROVER = "bob"
MESSAGE = b'{"a":"canonical approval stand-in"}'


async def decode_status(
    http: httpx.AsyncClient, token: str, encrypt: Sealer, namespace: str
) -> int:
    """Status of a /decode of one payload of ``namespace`` with ``token``."""
    from google.protobuf import json_format
    from temporalio.api.common.v1 import Payloads

    sealed = await encrypt({"n": 1}, namespace, "wf-people")
    resp = await http.post(
        "/decode",
        content=json_format.MessageToJson(Payloads(payloads=[sealed])),
        headers={"Authorization": f"Bearer {token}", "X-Namespace": namespace},
    )
    return resp.status_code


async def sign(stack: StackInfo, paths: StackPaths, person: str, key: str | None = None) -> str:
    """Sign as ``person`` (their own userpass login) with ``key`` (default: their own)."""
    password = dev_people.dev_password(paths, person)
    return await vault_approvers.sign_as(
        stack.vault_addr, person, password, MESSAGE, key=key, verify=stack.verify
    )


async def test_viewer_can_decode_but_not_approve(
    http: httpx.AsyncClient,
    stack: StackInfo,
    stack_paths: StackPaths,
    token_for: TokenFor,
    encrypt: Sealer,
) -> None:
    token = await token_for(VIEWER)
    assert await decode_status(http, token, encrypt, NS) == 200
    for key in (approval_policy.approver_key(APPROVER), approval_policy.approver_key(VIEWER)):
        with pytest.raises(PersonLoginError):
            await sign(stack, stack_paths, VIEWER, key)


async def test_approver_can_approve_but_not_decode_another_namespace(
    http: httpx.AsyncClient,
    stack: StackInfo,
    stack_paths: StackPaths,
    token_for: TokenFor,
    encrypt: Sealer,
) -> None:
    token = await token_for(APPROVER)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert vault_people.APPROVERS_GROUP in claims["permissions"]
    assert await decode_status(http, token, encrypt, NS) == 200
    assert await decode_status(http, token, encrypt, "billing") == 403

    signature = await sign(stack, stack_paths, APPROVER)
    assert signature.startswith("vault:v")
    # The signature is bob's key's (verified by Transit with the public half).
    root = support.vault(stack, stack.root_token())
    verified = root.secrets.transit.verify_signed_data(
        approval_policy.approver_key(APPROVER),
        base64.b64encode(MESSAGE).decode(),
        signature=signature,
    )
    assert verified["data"]["valid"] is True
    # Only with their own key: the group policy resolves to the member's entity name.
    with pytest.raises(PersonLoginError):
        await sign(stack, stack_paths, APPROVER, approval_policy.approver_key("alice"))


async def test_approver_removed_from_the_group_can_no_longer_sign(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    name = "dave"
    approver = next(a for a in approval_policy.APPROVERS if a.name == name)
    root = support.vault(stack, stack.root_token())
    group = f"identity/group/name/{vault_people.APPROVERS_GROUP}"
    members: list[str] = root.read(group)["data"]["member_entity_ids"]
    entity = root.read(f"identity/entity/name/{name}")["data"]["id"]
    assert entity in members
    await sign(stack, stack_paths, name)

    # A token obtained while still a member, used after the removal.
    password = dev_people.dev_password(stack_paths, name)
    async with httpx.AsyncClient(
        base_url=stack.vault_addr, timeout=10, verify=httpx_verify(stack.verify)
    ) as vault:
        token = await vault_people.userpass_token(vault, name, password)
        root.write_data(group, data={"member_entity_ids": [m for m in members if m != entity]})
        try:
            resp = await vault.post(
                f"/v1/{vault_approvers.signs_with(approver)}",
                json={"input": base64.b64encode(MESSAGE).decode()},
                headers={"X-Vault-Token": token},
            )
            assert resp.status_code == 403, resp.text
            with pytest.raises(PersonLoginError):
                await sign(stack, stack_paths, name)
        finally:
            root.write_data(group, data={"member_entity_ids": members})
            await vault.post("/v1/auth/token/revoke-self", headers={"X-Vault-Token": token})
    await sign(stack, stack_paths, name)


async def test_orders_login_gets_a_token_through_the_loopback_callback(
    http: httpx.AsyncClient,
    stack: StackInfo,
    stack_paths: StackPaths,
    codec_client_id: str,
    encrypt: Sealer,
) -> None:
    done = await asyncio.to_thread(orders_cli, stack_paths, "login", "--user", VIEWER)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == codec_client_id
    assert claims["username"] == VIEWER
    assert await decode_status(http, token, encrypt, NS) == 200
    assert token not in done.stderr

    # The same flow in process for a person OpenBao refuses (no people group).
    assert stack.oidc_issuer is not None
    password = dev_people.dev_password(stack_paths, NO_GROUP)
    with pytest.raises(oidc.AuthorizationDeniedError):
        await oidc.loopback_login(
            stack.oidc_issuer,
            codec_client_id,
            oidc.acting_browser(stack.vault_addr, NO_GROUP, password, verify=stack.verify),
            timeout=30,
            verify=stack.verify,
        )
