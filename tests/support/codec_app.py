"""The codec server app in process: a local token issuer, a reversible codec, a service.

Tokens are signed here with a local key and verified against it as a static JWKS; the
payload codec is a small reversible one with the envelope's metadata. Shared by the codec
server's and the front's unit tests (no server is started).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from orders.codec_server.app import CodecService
from orders.codec_server.auth import (
    StaticKeys,
    TokenVerifier,
)
from orders.codec_server.cookies import CookieSealer
from orders.codec_server.settings import CodecServerSettings
from orders.oidc import AuthRequest, Provider
from orders.security.codec import ENCODING, META_CONTEXT, META_ENCODING, bound_context
from orders.vault.people import PersonLoginError

ISSUER = "https://idp.test/v1/identity/oidc"
AUDIENCE = "orders-codec-server"
UI = "http://127.0.0.1:8233"
SELF = "http://127.0.0.1:8081"
LIMIT = 4096
PROVIDER = Provider(ISSUER, "https://idp.test/ui/authorize", "https://idp.test/token", "unused")
COOKIE_KEY = bytes(range(32))

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def jwks() -> dict[str, Any]:
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(RSA_KEY.public_key()))
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(EC_KEY.public_key()))
    return {
        "keys": [
            rsa_jwk | {"kid": "rsa-1", "alg": "RS256", "use": "sig"},
            ec_jwk | {"kid": "ec-1", "alg": "ES256", "use": "sig"},
        ]
    }


def token(permissions: list[str] | None = None, *, alg: str = "RS256", **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "entity-1",
        "username": "ada",
        "iat": now,
        "exp": now + 300,
        "permissions": ["order-viewers", "orders:read"] if permissions is None else permissions,
    } | overrides
    key: Any = RSA_KEY if alg == "RS256" else EC_KEY
    kid = "rsa-1" if alg == "RS256" else "ec-1"
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


class ReversingCodec:
    """Reverses the serialised payload, with the envelope's encoding and context metadata."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload(
                metadata={
                    META_ENCODING: ENCODING,
                    META_CONTEXT: bound_context("orders", "wf").encode(),
                },
                data=p.SerializeToString()[::-1],
            )
            for p in payloads
        ]

    def __init__(self) -> None:
        self.decoded = 0

    async def decode_each(self, payloads: Sequence[Payload]) -> list[Payload | None]:
        out: list[Payload | None] = []
        for p in payloads:
            inner = Payload()
            inner.ParseFromString(bytes(p.data)[::-1])
            out.append(inner)
        self.decoded += len(payloads)
        return out

    def unwraps_needed(self, payloads: Sequence[Payload]) -> int:
        """Priced like the envelope codec: each distinct "wrapped key" (here, the data)."""
        return len({bytes(p.data) for p in payloads})


def settings(**overrides: Any) -> CodecServerSettings:
    return CodecServerSettings(
        host="127.0.0.1",
        port=8081,
        ui_origin=UI,
        client_id=AUDIENCE,
        issuer=ISSUER,
        max_body_bytes=LIMIT,
        **overrides,
    )


async def exchange(request: AuthRequest, code: str) -> str:
    """Stands in for the provider's token endpoint (the real one: integration tests)."""
    if code == "good":
        return token(nonce=request.nonce)
    if code == "other-nonce":
        return token(nonce="someone-elses")
    raise PersonLoginError("code refused: invalid_grant")


def service(**overrides: Any) -> CodecService:
    verifier = TokenVerifier(StaticKeys(jwks()), ISSUER, AUDIENCE, leeway_seconds=0)
    return CodecService(
        settings(**overrides),
        ReversingCodec(),
        verifier,
        exchange=exchange,
        provider=PROVIDER,
        sealer=CookieSealer(COOKIE_KEY),
    )


def plain(value: object) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())


async def sealed_body(*values: object) -> str:
    sealed = await ReversingCodec().encode([plain(v) for v in values])
    return json_format.MessageToJson(Payloads(payloads=sealed))


def auth(tok: str | None = None, ns: str = "orders") -> dict[str, str]:
    return {"Authorization": f"Bearer {tok or token()}", "X-Namespace": ns}


async def start_login(http: httpx.AsyncClient, next_url: str) -> tuple[dict[str, str], str]:
    """GET /login: the redirect's query parameters and the login-binding cookie."""
    resp = await http.get("/login", params={"next": next_url})
    assert resp.status_code == 303
    location = urlsplit(resp.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        PROVIDER.authorization_endpoint
    )
    cookie = resp.headers["set-cookie"]
    return {k: v[0] for k, v in parse_qs(location.query).items()}, cookie


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
