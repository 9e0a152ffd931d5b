"""The client side of the code flow with PKCE (no OpenBao: the provider is played here)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from orders import oidc

ISSUER = "http://127.0.0.1:8200/v1/identity/oidc/provider/orders"
PROVIDER = oidc.Provider(ISSUER, "https://idp.test/authorize", "https://idp.test/t", "https://k")


@asynccontextmanager
async def discovery(document: object | None = None) -> AsyncIterator[str]:
    """A provider on 127.0.0.1 serving only its discovery document; yields its issuer."""
    served: dict[str, object] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = json.dumps(served["doc"]).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    issuer = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/oidc"
    served["doc"] = document or {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/keys",
    }
    async with server:
        yield issuer


async def test_discovery_gives_every_endpoint_and_refuses_another_issuer() -> None:
    async with discovery() as issuer:
        provider = await oidc.discover(issuer)
        assert provider == oidc.Provider(
            issuer, f"{issuer}/authorize", f"{issuer}/token", f"{issuer}/keys"
        )
    foreign = {
        "issuer": "https://evil.test",
        "authorization_endpoint": "a",
        "token_endpoint": "t",
        "jwks_uri": "k",
    }
    async with discovery(foreign) as issuer:
        with pytest.raises(oidc.ProviderUnavailableError, match="another issuer"):
            await oidc.discover(issuer)
    async with discovery({"issuer": "x"}) as issuer:
        with pytest.raises(oidc.ProviderUnavailableError, match="lacks an endpoint"):
            await oidc.discover(issuer)


def test_s256_challenge_matches_rfc_7636_appendix_b() -> None:
    request = oidc.AuthRequest(
        authorization_endpoint=PROVIDER.authorization_endpoint,
        client_id="c",
        redirect_uri="http://127.0.0.1/callback",
        state="s",
        nonce="n",
        verifier="dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    )
    assert request.challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_request_url_carries_the_challenge_never_the_verifier() -> None:
    request = oidc.new_request(PROVIDER, "client-1", "http://127.0.0.1:9/callback")
    url = urlsplit(request.browser_url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == PROVIDER.authorization_endpoint
    params = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert params["code_challenge"] == request.challenge
    assert params["code_challenge_method"] == "S256"
    assert request.verifier not in request.browser_url
    assert 43 <= len(request.verifier) <= 128  # RFC 7636 section 4.1
    assert params["scope"] == "openid profile permissions"
    other = oidc.new_request(PROVIDER, "client-1", "http://127.0.0.1:9/callback")
    assert {other.state, other.nonce, other.verifier}.isdisjoint(
        {request.state, request.nonce, request.verifier}
    )


async def test_loopback_login_ignores_a_foreign_state_and_reports_denial() -> None:
    async def deliver(url: str, params: dict[str, str]) -> int:
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        async with httpx.AsyncClient(timeout=5) as http:
            resp = await http.get(f"{query['redirect_uri']}?{urlencode(params)}")
            return resp.status_code

    async def denied(url: str) -> None:
        state = parse_qs(urlsplit(url).query)["state"][0]
        # A redirect with someone else's state is answered 400 and does not count.
        assert await deliver(url, {"state": "forged", "code": "x"}) == 400
        assert await deliver(url, {"state": state, "error": "access_denied"}) == 400

    async def nobody(url: str) -> None:
        return None

    async with discovery() as issuer:
        with pytest.raises(oidc.AuthorizationDeniedError):
            await oidc.loopback_login(issuer, "client-1", denied, timeout=10)
        with pytest.raises(TimeoutError):
            await oidc.loopback_login(issuer, "client-1", nobody, timeout=0.5)
