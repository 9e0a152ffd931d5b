"""The codec server app in process (httpx ASGI transport): parsing, limits, CORS, sessions.

Tokens are signed here with a local key and verified against it as a static JWKS; the
payload codec is a small reversible one with the envelope's metadata. Authentication
against OpenBao's real keys is tested against the running server (integration).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from orders.codec_server.app import CodecService, create_app, recorded_namespace
from orders.codec_server.auth import (
    InvalidTokenError,
    Principal,
    StaticKeys,
    TokenVerifier,
    parse_permissions,
)
from orders.security.codec import META_CONTEXT, bound_context
from tests.support.codec_app import (
    AUDIENCE,
    ISSUER,
    LIMIT,
    RSA_KEY,
    SELF,
    UI,
    ReversingCodec,
    auth,
    jwks,
    plain,
    sealed_body,
    service,
    start_login,
    token,
)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(service())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SELF) as c:
        yield c


async def test_decode_round_trip_and_plaintext_passthrough(http: httpx.AsyncClient) -> None:
    sealed = await ReversingCodec().encode([plain({"a": 1})])
    body = json_format.MessageToJson(Payloads(payloads=[*sealed, plain("as-is")]))
    resp = await http.post("/decode", content=body, headers=auth())
    assert resp.status_code == 200
    out = json_format.Parse(resp.content, Payloads()).payloads
    assert [json.loads(p.data) for p in out] == [{"a": 1}, "as-is"]


async def test_es256_tokens_are_accepted(http: httpx.AsyncClient) -> None:
    resp = await http.post(
        "/decode", content=await sealed_body(1), headers=auth(token(alg="ES256"))
    )
    assert resp.status_code == 200


async def test_payload_bound_to_another_namespace_is_left_encrypted(
    http: httpx.AsyncClient,
) -> None:
    [sealed] = await ReversingCodec().encode([plain("x")])
    sealed.metadata[META_CONTEXT] = bound_context("billing", "wf").encode()
    body = json_format.MessageToJson(Payloads(payloads=[sealed]))
    resp = await http.post("/decode", content=body, headers=auth())
    assert resp.status_code == 200
    assert json_format.Parse(resp.content, Payloads()).payloads[0] == sealed


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b"not json", 400),
        (b'{"payloads": "nope"}', 400),
        (b'{"payloads": [{"data": 5}]}', 400),
        (b"[1, 2]", 400),
        (b"\xff\xfe", 400),
        (b"{}", 200),
    ],
)
async def test_body_parsing(http: httpx.AsyncClient, content: bytes, status: int) -> None:
    resp = await http.post("/decode", content=content, headers=auth())
    assert resp.status_code == status, resp.text


async def test_declared_and_streamed_size_limits(http: httpx.AsyncClient) -> None:
    big = b"x" * (LIMIT + 1)
    assert (await http.post("/decode", content=big, headers=auth())).status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(LIMIT // 512 + 2):
            yield b"y" * 512

    resp = await http.post("/decode", content=chunks(), headers=auth())
    assert "content-length" not in resp.request.headers
    assert resp.status_code == 413
    lying = {**auth(), "Content-Length": "abc"}
    assert (await http.post("/decode", content=b"{}", headers=lying)).status_code == 400


async def test_authentication_and_authorization(http: httpx.AsyncClient) -> None:
    body = await sealed_body(1)
    hs256 = jwt.encode({"sub": "x"}, "secret-key-long-enough-for-hmac-256bits!", algorithm="HS256")
    cases = {
        "none": ({"X-Namespace": "orders"}, 401),
        "hs256": (auth(hs256), 401),
        "expired": (auth(token(exp=int(time.time()) - 10)), 401),
        "issuer": (auth(token(iss="https://other")), 401),
        "audience": (auth(token(aud="other")), 401),
        "no group": (auth(token([])), 403),
        "other ns": (auth(token(["billing:read"])), 403),
        "admin": (auth(token(["orders:admin"])), 200),
        "writer": (auth(token(["orders:write"])), 200),
        "system": (auth(token(["system:read"])), 200),
        "worker only": (auth(token(["orders:worker"])), 403),
        "no namespace": ({"Authorization": f"Bearer {token()}"}, 400),
    }
    for name, (headers, status) in cases.items():
        resp = await http.post("/decode", content=body, headers=headers)
        assert resp.status_code == status, (name, resp.text)


async def test_encode_disabled_by_default_and_write_gated_when_enabled() -> None:
    assert (await _post(service(), "/encode", auth())).status_code == 404
    enabled = service(enable_encode=True)
    assert (await _post(enabled, "/encode", auth())).status_code == 403
    writer = auth(token(["orders:write"]))
    assert (await _post(enabled, "/encode", writer)).status_code == 200


async def _post(svc: CodecService, path: str, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(svc))
    async with httpx.AsyncClient(transport=transport, base_url=SELF) as c:
        return await c.post(path, content=json_format.MessageToJson(Payloads()), headers=headers)


async def test_cors(http: httpx.AsyncClient) -> None:
    pre = {"Access-Control-Request-Method": "POST"}
    ok = await http.options("/decode", headers={"Origin": UI, **pre})
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == UI
    assert ok.headers["access-control-allow-credentials"] == "true"
    for origin, path, method in (
        ("http://evil.test", "/decode", "POST"),
        (UI, "/oidc/callback", "GET"),
        (UI, "/decode", "DELETE"),
    ):
        resp = await http.options(
            path, headers={"Origin": origin, "Access-Control-Request-Method": method}
        )
        assert resp.status_code == 403, (origin, path, method)
        assert "access-control-allow-origin" not in resp.headers
    evil = await http.post(
        "/decode", content=b"{}", headers={**auth(), "Origin": "http://evil.test"}
    )
    assert evil.status_code == 403


async def test_login_redirects_to_the_provider_with_pkce(http: httpx.AsyncClient) -> None:
    params, cookie = await start_login(http, f"{UI}/namespaces/orders")
    assert params["client_id"] == AUDIENCE
    assert params["redirect_uri"] == f"{SELF}/oidc/callback"
    assert params["response_type"] == "code"
    assert params["scope"].split() == ["openid", "profile", "permissions"]
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43  # base64url(SHA-256): the verifier stays here
    assert len(params["state"]) >= 32
    assert len(params["nonce"]) >= 32
    assert params["state"] != params["nonce"]
    assert cookie.startswith("__Host-orders-codec-login=")
    for attribute in ("httponly", "samesite=lax", "secure", "path=/"):
        assert attribute in cookie.lower()
    again, _ = await start_login(http, f"{UI}/namespaces/orders")
    assert again["state"] != params["state"]
    assert again["code_challenge"] != params["code_challenge"]


async def test_callback_sets_the_session_cookie_and_logout_ends_it(
    http: httpx.AsyncClient,
) -> None:
    params, binding = await start_login(http, f"{UI}/namespaces/orders")
    ok = await http.get(
        "/oidc/callback",
        params={"code": "good", "state": params["state"]},
        headers={"Cookie": binding.split(";")[0]},
    )
    assert ok.status_code == 303
    assert ok.headers["location"] == f"{UI}/namespaces/orders"
    [cookie] = [c for c in ok.headers.get_list("set-cookie") if "codec-session" in c]
    assert cookie.startswith("__Host-orders-codec-session=")  # loopback: Secure by default
    for attribute in ("httponly", "samesite=strict", "secure", "path=/"):
        assert attribute in cookie.lower()
    session = cookie.split(";")[0]

    headers = {"X-Namespace": "orders", "Cookie": session, "Origin": UI}
    resp = await http.post("/decode", content=await sealed_body(7), headers=headers)
    assert resp.status_code == 200
    assert (await http.get("/session", headers={"Cookie": session})).json()["username"] == "ada"
    page = await http.get("/login", headers={"Cookie": session})
    assert "Signed in as <strong>ada</strong>" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")

    # The state was used up: the same redirect cannot be replayed.
    replay = await http.get(
        "/oidc/callback",
        params={"code": "good", "state": params["state"]},
        headers={"Cookie": binding.split(";")[0]},
    )
    assert replay.status_code == 400

    out = await http.post("/logout", headers={"Cookie": session})
    assert out.status_code == 303
    [cleared] = [c for c in out.headers.get_list("set-cookie") if "codec-session" in c]
    assert "max-age=0" in cleared.lower()


@pytest.mark.parametrize(
    ("query", "with_cookie", "status"),
    [
        ({"code": "good"}, False, 400),  # another browser's redirect (login CSRF)
        ({"code": "good", "state": "unknown"}, True, 400),
        ({"error": "access_denied"}, True, 403),  # the person is in no people group
        ({"error": "server_error"}, True, 401),
        ({"code": "bad"}, True, 401),  # the provider refused the code
        ({"code": "other-nonce"}, True, 401),  # an ID token minted for another request
    ],
)
async def test_callback_refusals(
    http: httpx.AsyncClient, query: dict[str, str], with_cookie: bool, status: int
) -> None:
    params, binding = await start_login(http, f"{UI}/x")
    headers = {"Cookie": binding.split(";")[0]} if with_cookie else {}
    resp = await http.get(
        "/oidc/callback", params={"state": params["state"]} | query, headers=headers
    )
    assert resp.status_code == status
    assert not any(
        "codec-session=" in c and "Max-Age=0" not in c for c in resp.headers.get_list("set-cookie")
    )


async def test_login_never_redirects_off_the_ui(http: httpx.AsyncClient) -> None:
    params, binding = await start_login(http, "https://evil.test/")
    ok = await http.get(
        "/oidc/callback",
        params={"code": "good", "state": params["state"]},
        headers={"Cookie": binding.split(";")[0]},
    )
    assert ok.headers["location"] == "/login"
    params, _ = await start_login(http, f"{UI}.evil.test/x")
    assert "evil" not in str(params)


async def test_healthz_reflects_readiness() -> None:
    svc = service()
    svc.ready = lambda: False
    transport = httpx.ASGITransport(app=create_app(svc))
    async with httpx.AsyncClient(transport=transport, base_url=SELF) as c:
        assert (await c.get("/healthz")).status_code == 503


def test_parse_permissions_ignores_group_names_and_junk() -> None:
    claim = ["order-viewers", "orders:read", "billing:ADMIN", "a:b:c", 3, ":read", "x:"]
    assert parse_permissions(claim) == {("orders", "read"), ("billing", "admin")}
    assert parse_permissions(None) == frozenset()


def test_principal_roles() -> None:
    p = Principal("s", "u", parse_permissions(["orders:write", "system:read"]), 0)
    assert p.can_read("orders")
    assert p.can_write("orders")
    assert p.can_read("anything")
    assert not p.can_write("anything")


async def test_unknown_kid_and_oversized_token_are_invalid() -> None:
    verifier = TokenVerifier(StaticKeys(jwks()), ISSUER, AUDIENCE)
    with pytest.raises(InvalidTokenError):
        await verifier.verify(
            jwt.encode({"a": 1}, RSA_KEY, algorithm="RS256", headers={"kid": "x"})
        )
    with pytest.raises(InvalidTokenError):
        await verifier.verify("a" * 10_000)
    # An RSA-signed token that claims the EC key's id.
    mismatched = jwt.encode({"a": 1}, RSA_KEY, algorithm="RS256", headers={"kid": "ec-1"})
    with pytest.raises(InvalidTokenError):
        await verifier.verify(mismatched)


def test_recorded_namespace() -> None:
    p = Payload(metadata={META_CONTEXT: bound_context("orders", "wf-1").encode()})
    assert recorded_namespace(p) == "orders"
    assert recorded_namespace(Payload()) is None
