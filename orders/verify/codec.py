"""Codec server: 401 without a valid token, 403 without the namespace's permission, CORS.

Shared by ``orders verify`` and ``tests/integration/codec_server/test_codec_server.py``.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

EVIL_ORIGIN = "http://127.0.0.1:1"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type,x-namespace",
}


def _b64url(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def bad_tokens(real: str) -> dict[str, str | None]:
    """Tokens the codec server must refuse (401), built from a real one's claims."""
    claims: dict[str, Any] = jwt.decode(real, options={"verify_signature": False})
    header = jwt.get_unverified_header(real)
    foreign_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    fresh = {**claims, "iat": now, "exp": now + 600}
    return {
        "no token": None,
        "garbage": "not-a-jwt",
        # Same claims and key id as a real token, signed by a key the issuer never had.
        "forged signature": jwt.encode(
            fresh, foreign_key, algorithm="RS256", headers={"kid": header["kid"]}
        ),
        # A token from another issuer (its own key, its own iss).
        "other issuer": jwt.encode(
            {**fresh, "iss": "https://issuer.invalid/v1/identity/oidc"},
            foreign_key,
            algorithm="RS256",
            headers={"kid": "foreign-key"},
        ),
        # Right issuer, signature stripped ("alg": "none").
        "unsigned": ".".join(
            [_b64url({"alg": "none", "typ": "JWT", "kid": header["kid"]}), _b64url(fresh), ""]
        ),
    }


async def post_decode(
    http: httpx.AsyncClient,
    content: str | bytes,
    token: str | None,
    namespace: str,
    origin: str | None = None,
) -> httpx.Response:
    """``POST /decode`` with an optional bearer token and Origin."""
    headers = {"Content-Type": "application/json", "X-Namespace": namespace}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if origin is not None:
        headers["Origin"] = origin
    return await http.post("/decode", content=content, headers=headers)


async def unauthenticated_problems(
    http: httpx.AsyncClient, body: str, real: str, namespace: str
) -> list[str]:
    """Every bad token (and Basic auth) the server did not answer with a bare 401."""
    problems = []
    for name, token in bad_tokens(real).items():
        resp = await post_decode(http, body, token, namespace)
        if resp.status_code != 401 or b"payloads" in resp.content:
            problems.append(f"{name}: HTTP {resp.status_code}")
    basic = await http.post(
        "/decode",
        content=body,
        headers={"X-Namespace": namespace, "Authorization": "Basic dXNlcjpwYXNz"},
    )
    if basic.status_code != 401 or not basic.headers.get("www-authenticate", "").startswith(
        "Bearer"
    ):
        problems.append(f"basic auth: HTTP {basic.status_code}")
    return problems


async def cors_problems(
    http: httpx.AsyncClient, ui_origin: str, body: str, token: str, namespace: str
) -> list[str]:
    """The UI's origin is allowed (with credentials), any other refused without CORS headers."""
    problems = []
    ok = await http.options("/decode", headers={"Origin": ui_origin, **PREFLIGHT})
    if (
        ok.status_code != 204
        or ok.headers.get("access-control-allow-origin") != ui_origin
        or ok.headers.get("access-control-allow-credentials") != "true"
    ):
        problems.append(f"preflight from the UI: HTTP {ok.status_code}")
    refused = await http.options("/decode", headers={"Origin": EVIL_ORIGIN, **PREFLIGHT})
    if refused.status_code != 403 or "access-control-allow-origin" in refused.headers:
        problems.append(f"preflight from another origin: HTTP {refused.status_code}")
    from_ui = await post_decode(http, body, token, namespace, ui_origin)
    if (
        from_ui.status_code != 200
        or from_ui.headers.get("access-control-allow-origin") != ui_origin
    ):
        problems.append(f"decode from the UI: HTTP {from_ui.status_code}")
    from_evil = await post_decode(http, body, token, namespace, EVIL_ORIGIN)
    if from_evil.status_code != 403 or "access-control-allow-origin" in from_evil.headers:
        problems.append(f"decode from another origin: HTTP {from_evil.status_code}")
    return problems
