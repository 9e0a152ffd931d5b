"""The codec server started by the stack: authentication, authorization, limits, CORS, audit.

Every request goes to the real server over HTTP; tokens are minted by the stack's OpenBao
for the dev users, or forged here with a key OpenBao never saw.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from orders import oidc
from orders.codec_server.settings import DEFAULT_MAX_BODY_BYTES
from orders.devstack import people as dev_people
from orders.devstack.state import StackInfo, StackPaths
from orders.security.trust import httpx_verify
from orders.vault import people as vault_people
from orders.verify import codec
from tests.support import stack as support
from tests.support.stack_codec import NS, Sealer, TokenFor, start_login

pytestmark = pytest.mark.integration

VIEWER, OTHER_VIEWER, NO_GROUP = "dev-viewer", "dev-other-viewer", "dev-no-group"


def body(*payloads: Payload) -> str:
    return json_format.MessageToJson(Payloads(payloads=payloads))


def decoded_values(response: httpx.Response) -> list[Any]:
    out = json_format.Parse(response.content, Payloads())
    return [json.loads(p.data) for p in out.payloads]


def b64url(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def claims(token: str) -> dict[str, Any]:
    parsed: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return parsed


async def post_decode(
    http: httpx.AsyncClient, content: str | bytes, token: str | None, namespace: str = NS
) -> httpx.Response:
    headers = {"Content-Type": "application/json", "X-Namespace": namespace}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return await http.post("/decode", content=content, headers=headers)


async def test_viewer_decodes_and_token_claims_come_from_openbao_groups(
    http: httpx.AsyncClient,
    token_for: TokenFor,
    encrypt: Sealer,
    stack: StackInfo,
    codec_client_id: str,
) -> None:
    token = await token_for(VIEWER)
    c = claims(token)
    assert c["iss"] == stack.oidc_issuer == vault_people.issuer_for(stack.vault_addr)
    assert c["aud"] == codec_client_id
    assert c["username"] == VIEWER
    assert c["nonce"]
    # The permission comes from OpenBao's group hierarchy (order-viewers -> orders:read).
    assert "orders:read" in c["permissions"]

    secret = {"customer_id": "cust-decode", "n": 1}
    sealed = await encrypt(secret, NS, "wf-decode")
    assert b"cust-decode" not in sealed.SerializeToString()
    resp = await post_decode(http, body(sealed), token)
    assert resp.status_code == 200, resp.text
    assert decoded_values(resp) == [secret]
    assert resp.headers["cache-control"] == "no-store"


async def test_unauthenticated_requests_get_401(
    http: httpx.AsyncClient, token_for: TokenFor, encrypt: Sealer, stack: StackInfo
) -> None:
    sealed = body(await encrypt({"x": 1}, NS, "wf-401"))
    real = await token_for(VIEWER)
    cases = codec.bad_tokens(real)
    assert set(cases) == {"no token", "garbage", "forged signature", "other issuer", "unsigned"}
    for name, token in cases.items():
        resp = await post_decode(http, sealed, token)
        assert resp.status_code == 401, (name, resp.status_code, resp.text)
        assert "payloads" not in resp.json()
    assert await codec.unauthenticated_problems(http, sealed, real, NS) == []


async def test_expired_token_gets_401(
    http: httpx.AsyncClient, stack: StackInfo, encrypt: Sealer, token_for: TokenFor
) -> None:
    """A real ID token of the codec client, minted while its lifetime is 2 s, once expired."""
    root = support.vault(stack, stack.root_token())
    path = f"identity/oidc/client/{vault_people.CODEC_CLIENT}"
    root.write_data(path, data={"id_token_ttl": 2})
    try:
        token = await token_for(VIEWER)
    finally:
        root.write_data(path, data={"id_token_ttl": vault_people.ID_TOKEN_TTL})
    exp = claims(token)["exp"]
    assert exp - claims(token)["iat"] <= 2
    sealed = body(await encrypt({"x": 1}, NS, "wf-expired"))
    # Past expiry plus the server's leeway (2 s).
    await asyncio.sleep(max(0.0, exp - time.time()) + 3.0)
    resp = await post_decode(http, sealed, token)
    assert resp.status_code == 401, resp.text
    assert resp.json() == {"error": "invalid or expired token"}


async def test_namespace_permission_is_required(
    http: httpx.AsyncClient, token_for: TokenFor, encrypt: Sealer
) -> None:
    sealed = body(await encrypt({"x": 1}, NS, "wf-403"))
    other = await token_for(OTHER_VIEWER)
    viewer = await token_for(VIEWER)
    assert "billing:read" in claims(other)["permissions"]
    assert not any(p.startswith(f"{NS}:") for p in claims(other)["permissions"])
    # A person in no people group gets no token at all (the client's assignment).
    with pytest.raises(oidc.AuthorizationDeniedError):
        await token_for(NO_GROUP)

    assert (await post_decode(http, sealed, other)).status_code == 403
    assert (await post_decode(http, sealed, viewer, namespace="billing")).status_code == 403
    missing = await http.post(
        "/decode", content=sealed, headers={"Authorization": f"Bearer {viewer}"}
    )
    assert missing.status_code == 400


async def test_payload_of_another_namespace_stays_encrypted(
    http: httpx.AsyncClient, token_for: TokenFor, encrypt: Sealer
) -> None:
    """orders:read must not open a billing payload relabelled with X-Namespace: orders."""
    mine = await encrypt({"mine": True}, NS, "wf-ns")
    theirs = await encrypt({"theirs": "billing-secret"}, "billing", "wf-ns")
    resp = await post_decode(http, body(mine, theirs), await token_for(VIEWER))
    assert resp.status_code == 200
    out = json_format.Parse(resp.content, Payloads()).payloads
    assert json.loads(out[0].data) == {"mine": True}
    assert out[1] == theirs
    assert b"billing-secret" not in resp.content


async def test_billing_viewer_reads_billing_payloads(
    http: httpx.AsyncClient, token_for: TokenFor, encrypt: Sealer
) -> None:
    theirs = await encrypt({"theirs": 1}, "billing", "wf-billing")
    resp = await post_decode(http, body(theirs), await token_for(OTHER_VIEWER), "billing")
    assert resp.status_code == 200
    assert decoded_values(resp) == [{"theirs": 1}]


async def test_oversized_bodies_get_413(http: httpx.AsyncClient, token_for: TokenFor) -> None:
    token = await token_for(VIEWER)
    headers = {"X-Namespace": NS, "Authorization": f"Bearer {token}"}
    big = b"x" * (DEFAULT_MAX_BODY_BYTES + 1)
    resp = await http.post("/decode", content=big, headers=headers)
    assert resp.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        # No Content-Length: the limit must hold while the body is read.
        for _ in range(DEFAULT_MAX_BODY_BYTES // 65536 + 2):
            yield b"y" * 65536

    try:
        chunked = await http.post("/decode", content=chunks(), headers=headers)
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        pytest.fail("the server must answer 413, not drop the connection")
    assert chunked.status_code == 413


async def test_cors_allows_only_the_ui_origin(
    http: httpx.AsyncClient, stack: StackInfo, token_for: TokenFor, encrypt: Sealer
) -> None:
    token = await token_for(VIEWER)
    sealed = body(await encrypt({"x": 1}, NS, "wf-cors"))
    assert await codec.cors_problems(http, stack.ui_url, sealed, token, NS) == []
    ok = await http.options("/decode", headers={"Origin": stack.ui_url, **codec.PREFLIGHT})
    assert "x-namespace" in ok.headers["access-control-allow-headers"].lower()
    refused = await http.options(
        "/decode", headers={"Origin": codec.EVIL_ORIGIN, **codec.PREFLIGHT}
    )
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers


async def test_encode_is_disabled(http: httpx.AsyncClient, token_for: TokenFor) -> None:
    token = await token_for(VIEWER)
    resp = await http.post(
        "/encode",
        content=body(Payload(metadata={"encoding": b"json/plain"}, data=b"1")),
        headers={"X-Namespace": NS, "Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 404


async def test_audit_line_without_contents_or_tokens(
    http: httpx.AsyncClient, token_for: TokenFor, encrypt: Sealer, stack_paths: StackPaths
) -> None:
    marker = f"audit-marker-{uuid.uuid4().hex}"
    token = await token_for(VIEWER)
    sealed = [await encrypt({"customer_id": marker}, NS, f"wf-audit-{i}") for i in range(3)]
    resp = await post_decode(http, body(*sealed), token)
    assert decoded_values(resp) == [{"customer_id": marker}] * 3
    denied = await post_decode(http, body(*sealed), await token_for(OTHER_VIEWER))
    assert denied.status_code == 403

    log_file: Path = stack_paths.log_file("codec-server")

    async def audit_lines() -> list[dict[str, Any]]:
        lines = [json.loads(x) for x in log_file.read_text().splitlines() if x.startswith("{")]
        return [x for x in lines if x.get("event") == "codec.audit"]

    lines = await support.eventually(audit_lines, timeout=5)
    ok = [x for x in lines if x.get("payload_count") == 3 and x.get("username") == VIEWER]
    assert ok
    assert ok[-1]["outcome"] == "ok"
    assert ok[-1]["namespace"] == NS
    assert ok[-1]["subject"] == claims(token)["sub"]
    assert ok[-1]["auth"] == "bearer"
    refused = [x for x in lines if x.get("username") == OTHER_VIEWER and x.get("status") == 403]
    assert refused
    assert refused[-1]["outcome"] == "forbidden"
    text = log_file.read_text()
    assert marker not in text
    assert token not in text
    assert token.split(".")[2] not in text
    for payload in sealed:
        assert base64.b64encode(payload.data).decode()[:24] not in text
    for plain in json_format.Parse(resp.content, Payloads()).payloads:
        assert base64.b64encode(plain.data).decode()[:24] not in text


async def test_new_signing_key_is_fetched_on_unknown_kid(
    http: httpx.AsyncClient, stack: StackInfo, token_for: TokenFor, encrypt: Sealer
) -> None:
    before = jwt.get_unverified_header(await token_for(VIEWER))["kid"]
    root = support.vault(stack, stack.root_token())
    root.write_data(f"identity/oidc/key/{vault_people.OIDC_KEY}/rotate", data={})
    token = await token_for(VIEWER)
    assert jwt.get_unverified_header(token)["kid"] != before
    resp = await post_decode(http, body(await encrypt({"k": 2}, NS, "wf-rotate")), token)
    assert resp.status_code == 200, resp.text


async def test_browser_login_code_flow_pkce_cookie_and_logout(
    http: httpx.AsyncClient,
    codec_url: str,
    stack: StackInfo,
    stack_paths: StackPaths,
    encrypt: Sealer,
    codec_client_id: str,
) -> None:
    """What the browser test does, at the HTTP level: OpenBao's authorize, then the callback."""
    resp = await http.get("/login", params={"next": f"{stack.ui_url}/namespaces"})
    location = resp.headers["location"]
    assert stack.oidc_issuer is not None
    provider = await oidc.discover(stack.oidc_issuer, verify=stack.verify)
    assert location.startswith(provider.authorization_endpoint + "?")
    query, binding = await start_login(http, f"{stack.ui_url}/namespaces")
    assert query["client_id"] == codec_client_id
    assert query["redirect_uri"] == f"{codec_url}{vault_people.CODEC_CALLBACK_PATH}"
    assert query["code_challenge_method"] == "S256"

    password = dev_people.dev_password(stack_paths, VIEWER)
    with pytest.raises(vault_people.PersonLoginError):
        await oidc.authorize_as_person(
            stack.vault_addr, query, VIEWER, "wrong", verify=stack.verify
        )
    code = await oidc.authorize_as_person(
        stack.vault_addr, query, VIEWER, password, verify=stack.verify
    )
    # The code without the verifier (which never left the codec server) is worthless.
    async with httpx.AsyncClient(timeout=10, verify=httpx_verify(stack.verify)) as plain:
        stolen = await plain.post(
            provider.token_endpoint,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": query["redirect_uri"],
                "client_id": codec_client_id,
                "code_verifier": "x" * 64,
            },
        )
    assert stolen.status_code == 400, stolen.text
    # That attempt used the code up (codes are single-use): ask for a new one.
    query, binding = await start_login(http, f"{stack.ui_url}/namespaces")
    code = await oidc.authorize_as_person(
        stack.vault_addr, query, VIEWER, password, verify=stack.verify
    )
    callback = vault_people.CODEC_CALLBACK_PATH
    # Delivered to another browser (no binding cookie): refused, and the state is used up.
    async with httpx.AsyncClient(
        base_url=codec_url, timeout=30, verify=httpx_verify(stack.verify)
    ) as other:
        csrf = await other.get(callback, params={"code": code, "state": query["state"]})
    assert csrf.status_code == 400
    query, binding = await start_login(http, f"{stack.ui_url}/namespaces")
    code = await oidc.authorize_as_person(
        stack.vault_addr, query, VIEWER, password, verify=stack.verify
    )
    ok = await http.get(
        callback, params={"code": code, "state": query["state"]}, headers={"Cookie": binding}
    )
    assert ok.status_code == 303, ok.text
    assert ok.headers["location"] == f"{stack.ui_url}/namespaces"
    [cookie] = [c for c in ok.headers.get_list("set-cookie") if "codec-session" in c]
    for attribute in ("HttpOnly", "SameSite=strict", "Secure", "Path=/"):
        assert attribute.lower() in cookie.lower(), cookie
    name, _, rest = cookie.partition("=")
    assert name == "__Host-orders-codec-session"
    session = f"{name}={rest.split(';')[0]}"
    assert password not in cookie

    sealed = body(await encrypt({"via": "cookie"}, NS, "wf-cookie"))
    headers = {"X-Namespace": NS, "Cookie": session, "Origin": stack.ui_url}
    resp = await http.post("/decode", content=sealed, headers=headers)
    assert resp.status_code == 200
    assert decoded_values(resp) == [{"via": "cookie"}]
    me = await http.get("/session", headers={"Cookie": session})
    assert me.json()["username"] == VIEWER
    assert "orders:read" in me.json()["permissions"]

    out = await http.post("/logout", headers={"Cookie": session, "Origin": codec_url})
    assert out.status_code == 303
    [cleared] = [c for c in out.headers.get_list("set-cookie") if "codec-session" in c]
    assert "max-age=0" in cleared.lower()  # the browser forgets it (nothing kept to revoke)
    # A session cookie is only good as it was sealed: one changed character, and 401.
    name, _, value = session.partition("=")
    flipped = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
    tampered = headers | {"Cookie": f"{name}={flipped}"}
    assert (await http.post("/decode", content=sealed, headers=tampered)).status_code == 401


async def test_person_in_no_group_gets_403_at_the_callback(
    http: httpx.AsyncClient, stack: StackInfo, stack_paths: StackPaths
) -> None:
    """OpenBao refuses the authorization (assignment); the browser lands on a 403."""
    query, binding = await start_login(http, f"{stack.ui_url}/namespaces")
    password = dev_people.dev_password(stack_paths, NO_GROUP)
    with pytest.raises(oidc.AuthorizationDeniedError):
        await oidc.authorize_as_person(
            stack.vault_addr, query, NO_GROUP, password, verify=stack.verify
        )
    # What OpenBao's UI does with that answer: redirect with error=access_denied.
    resp = await http.get(
        vault_people.CODEC_CALLBACK_PATH,
        params={"error": "access_denied", "state": query["state"]},
        headers={"Cookie": binding},
    )
    assert resp.status_code == 403
    assert "codec-session" not in resp.headers.get("set-cookie", "").split("=")[0]


async def test_healthz(http: httpx.AsyncClient) -> None:
    resp = await http.get("/healthz")
    assert resp.status_code == 200
