"""The client side of the code flow with PKCE (no server: the provider is played here)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from orders import oidc
from orders.vault import people as vault_people

ISSUER = "http://127.0.0.1:8200/v1/identity/oidc/provider/orders"


def test_s256_challenge_matches_rfc_7636_appendix_b() -> None:
    request = oidc.AuthRequest(
        issuer=ISSUER,
        client_id="c",
        redirect_uri="http://127.0.0.1/callback",
        state="s",
        nonce="n",
        verifier="dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    )
    assert request.challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_request_url_carries_the_challenge_never_the_verifier() -> None:
    request = oidc.new_request(ISSUER, "client-1", "http://127.0.0.1:9/callback")
    url = urlsplit(request.browser_url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == vault_people.authorize_url_for(ISSUER)
    params = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert params["code_challenge"] == request.challenge
    assert params["code_challenge_method"] == "S256"
    assert request.verifier not in request.browser_url
    assert 43 <= len(request.verifier) <= 128  # RFC 7636 section 4.1
    assert params["scope"] == "openid profile permissions"
    other = oidc.new_request(ISSUER, "client-1", "http://127.0.0.1:9/callback")
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

    with pytest.raises(oidc.AuthorizationDeniedError):
        await oidc.loopback_login(ISSUER, "client-1", denied, timeout=10)

    async def nobody(url: str) -> None:
        return None

    with pytest.raises(TimeoutError):
        await oidc.loopback_login(ISSUER, "client-1", nobody, timeout=0.5)
