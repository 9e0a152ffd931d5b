"""Sealed cookies: what one replica seals, another opens; nothing else opens or forges them."""

from __future__ import annotations

import base64

import httpx
import pytest

from orders.codec_server.app import create_app
from orders.codec_server.cookies import CookieSealer, CookieTooLargeError, key_from_mac
from tests.support.codec_app import SELF, UI, Clock, sealed_body, service, start_login

KEY = bytes(range(32))


def test_sealed_content_opens_only_under_its_name_key_and_lifetime() -> None:
    clock = Clock()
    sealer = CookieSealer(KEY, clock=clock)
    value = sealer.seal("session", {"token": "jwt"}, clock.now + 60)
    assert "jwt" not in value
    assert CookieSealer(KEY, clock=clock).open("session", value) == {"token": "jwt"}
    assert sealer.open("login", value) is None  # a cookie never opens under another name
    assert CookieSealer(bytes(32), clock=clock).open("session", value) is None
    assert CookieSealer(KEY, version=2, clock=clock).open("session", value) is None
    for i in (3, len(value) // 2, len(value) - 1):
        flipped = value[:i] + ("A" if value[i] != "A" else "B") + value[i + 1 :]
        assert sealer.open("session", flipped) is None
    assert sealer.open("session", "garbage") is None
    assert sealer.open("session", None) is None
    clock.now += 61
    assert sealer.open("session", value) is None  # expired, whatever the browser says
    with pytest.raises(CookieTooLargeError):
        sealer.seal("session", {"token": "x" * 4000}, clock.now + 60)


def test_the_key_comes_from_a_transit_hmac() -> None:
    mac = "vault:v3:" + base64.b64encode(b"m" * 32).decode()
    key, version = key_from_mac(mac)
    assert (len(key), version) == (32, 3)
    assert key_from_mac(mac) == (key, 3)  # every replica derives the same key
    assert key_from_mac("vault:v3:" + base64.b64encode(b"n" * 32).decode())[0] != key
    with pytest.raises(ValueError, match="not a Transit HMAC"):
        key_from_mac("not-a-mac")


async def test_any_replica_completes_a_login_and_serves_its_session() -> None:
    """Two services, sharing only the derived key: login on one, callback and decode on
    the other. A third with its own key (per-process state) refuses both cookies."""
    one, two, alone = service(), service(), service()
    alone.sealer = CookieSealer(bytes(32))
    apps = [create_app(s) for s in (one, two, alone)]
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SELF) for app in apps
    ]
    first, second, third = clients
    try:
        params, binding = await start_login(first, f"{UI}/x")
        login = {"Cookie": binding.split(";")[0]}
        callback = {"code": "good", "state": params["state"]}
        assert (
            await third.get("/oidc/callback", params=callback, headers=login)
        ).status_code == 400
        ok = await second.get("/oidc/callback", params=callback, headers=login)
        assert ok.status_code == 303, ok.text
        [cookie] = [c for c in ok.headers.get_list("set-cookie") if "codec-session=" in c]
        headers = {"X-Namespace": "orders", "Cookie": cookie.split(";")[0], "Origin": UI}
        for http, status in ((first, 200), (second, 200), (third, 401)):
            resp = await http.post("/decode", content=await sealed_body(1), headers=headers)
            assert resp.status_code == status, resp.text
    finally:
        for c in clients:
            await c.aclose()
