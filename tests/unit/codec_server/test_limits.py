"""Codec server limits: token buckets, logins in progress, and the answers at the edge.

Buckets and login bounds run on a hand-driven clock; the HTTP answers (413, 429 with
``Retry-After``, a JSON body naming the limit) come from the app in process.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from orders.codec_server.app import create_app
from orders.codec_server.limits import RateLimiter, TokenBucket, retry_after
from orders.codec_server.logins import LoginLimiter, TooManyLoginsError
from tests.support.codec_app import (
    SELF,
    Clock,
    ReversingCodec,
    auth,
    plain,
    service,
    start_login,
    token,
)

# --- token bucket ---------------------------------------------------------------------


def test_bucket_spends_its_burst_then_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=2.0, capacity=5, tokens=5, updated=0.0)
    assert [bucket.take(1, 0.0) for _ in range(5)] == [0.0] * 5
    assert bucket.take(1, 0.0) == pytest.approx(0.5)  # one token takes 1/rate seconds
    assert bucket.take(3, 0.0) == pytest.approx(1.5)
    assert bucket.take(1, 0.5) == 0.0
    assert bucket.take(1, 100.0) == 0.0
    assert bucket.tokens == 4  # refilled to capacity, not beyond


def test_bucket_charges_a_cost_above_capacity_as_a_full_bucket() -> None:
    bucket = TokenBucket(rate=1.0, capacity=3, tokens=3, updated=0.0)
    assert bucket.take(50, 0.0) == 0.0
    assert bucket.take(50, 0.0) == pytest.approx(3.0)


def test_limiter_keeps_one_budget_per_principal() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=3, clock=clock)
    assert [limiter.take("ada") for _ in range(3)] == [0.0] * 3
    assert limiter.take("ada") == pytest.approx(1.0)
    assert limiter.take("bob") == 0.0  # ada's flood is not bob's problem
    clock.now += 1.0
    assert limiter.take("ada") == 0.0


def test_limiter_memory_is_bounded_and_forgets_full_buckets_first() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=10, max_keys=3, clock=clock)
    limiter.take("busy", 10)  # empty bucket: state worth keeping
    limiter.take("idle-1")
    limiter.take("idle-2")
    clock.now += 5.0  # the idle ones are full again; busy is not
    for i in range(100):
        limiter.take(f"new-{i}")
        assert len(limiter) <= 3
    limiter = RateLimiter(rate=1.0, burst=10, max_keys=2, clock=clock)
    limiter.take("busy", 10)
    limiter.take("idle")
    clock.now += 1.0
    limiter.take("new")  # idle (full) goes, busy (still short) stays
    assert limiter.take("busy", 2) == pytest.approx(1.0)


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert retry_after(0.01) == "1"
    assert retry_after(1.2) == "2"


# --- logins in progress ---------------------------------------------------------------


def test_a_flood_from_one_client_never_takes_another_clients_room() -> None:
    clock = Clock()
    logins = LoginLimiter(ttl_seconds=600, max_pending=100, max_per_client=5, clock=clock)
    refused = 0
    for _ in range(1000):
        try:
            logins.start("10.0.0.1")
        except TooManyLoginsError as full:
            refused += 1
            last = full
    assert refused == 1000 - 5
    assert last.limit == "max_pending_logins_per_client"
    assert last.maximum == 5
    assert last.retry_after == pytest.approx(600 / 5)  # when its next share comes back
    logins.start("10.0.0.2")  # another address still has its whole share


def test_the_total_bound_refuses_everyone_alike() -> None:
    clock = Clock()
    logins = LoginLimiter(ttl_seconds=60, max_pending=3, max_per_client=3, clock=clock)
    for i in range(3):
        logins.start(f"10.0.0.{i}")
    with pytest.raises(TooManyLoginsError) as full:
        logins.start("10.0.0.9")
    assert full.value.limit == "max_pending_logins"
    clock.now += 60 / 3
    logins.start("10.0.0.9")


def test_shares_come_back_with_time_and_when_logins_end_once() -> None:
    clock = Clock()
    logins = LoginLimiter(ttl_seconds=60, max_pending=10, max_per_client=2, clock=clock)
    logins.start("10.0.0.1")
    logins.start("10.0.0.1")
    with pytest.raises(TooManyLoginsError):
        logins.start("10.0.0.1")
    assert logins.end("state-0", "10.0.0.1", "10.0.0.1")  # the callback of one of them
    logins.start("10.0.0.1")
    # The same state again (a replayed redirect) ends nothing and gives nothing back.
    assert not logins.end("state-0", "10.0.0.1", "10.0.0.1")
    with pytest.raises(TooManyLoginsError):
        logins.start("10.0.0.1")
    # Ended by another address: the login ends, but the starter's share does not return.
    assert logins.end("state-1", "10.0.0.3", "10.0.0.1")
    with pytest.raises(TooManyLoginsError):
        logins.start("10.0.0.1")
    clock.now += 30  # a share refills every ttl / max_per_client seconds
    logins.start("10.0.0.1")


# --- over HTTP ------------------------------------------------------------------------


def client_for(app: Any, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=SELF)


@pytest.fixture
def limited() -> tuple[Any, ReversingCodec]:
    svc = service(
        max_payloads_per_request=4,
        rate_per_second=1.0,
        rate_burst=10,
        max_pending_logins_per_client=2,
    )
    assert isinstance(svc.codec, ReversingCodec)
    return create_app(svc), svc.codec


def payloads_body(*payloads: Payload) -> str:
    return json_format.MessageToJson(Payloads(payloads=payloads))


async def sealed(*values: object) -> list[Payload]:
    return await ReversingCodec().encode([plain(v) for v in values])


async def test_too_many_payloads_get_413_naming_the_limit(
    limited: tuple[Any, ReversingCodec],
) -> None:
    app, codec = limited
    async with client_for(app, "10.0.0.1") as http:
        resp = await http.post(
            "/decode", content=payloads_body(*await sealed(*range(5))), headers=auth()
        )
    assert resp.status_code == 413
    assert resp.json() == {
        "error": "more than 4 payloads in one request",
        "limit": "max_payloads_per_request",
        "max": 4,
    }
    assert codec.decoded == 0


async def test_body_limit_413_names_the_limit(limited: tuple[Any, ReversingCodec]) -> None:
    app, _ = limited
    async with client_for(app, "10.0.0.1") as http:
        resp = await http.post("/decode", content=b"x" * 5000, headers=auth())
    assert resp.status_code == 413
    assert resp.json()["limit"] == "max_body_bytes"
    assert resp.json()["max"] == 4096


async def test_budget_per_principal_gives_429_with_retry_after(
    limited: tuple[Any, ReversingCodec],
) -> None:
    app, codec = limited
    body = payloads_body(*await sealed(1, 2, 3))  # 1 (request) + 3 new keys = 4 tokens
    async with client_for(app, "10.0.0.1") as http:
        assert (await http.post("/decode", content=body, headers=auth())).status_code == 200
        assert (await http.post("/decode", content=body, headers=auth())).status_code == 200
        resp = await http.post("/decode", content=body, headers=auth())
        assert resp.status_code == 429
        assert int(resp.headers["retry-after"]) >= 1
        assert resp.json()["limit"] == "rate_per_second"
        assert "budget" in resp.json()["error"]
        assert codec.decoded == 6  # the refused request reached no codec (no Vault)
        # Another principal still has its whole budget.
        other = auth(token(sub="entity-2"))
        assert (await http.post("/decode", content=body, headers=other)).status_code == 200


async def test_a_login_flood_gets_429_and_leaves_other_logins_alone(
    limited: tuple[Any, ReversingCodec],
) -> None:
    app, _ = limited
    async with client_for(app, "10.0.0.2") as victim:
        params, binding = await start_login(victim, f"{SELF}/x")
    async with client_for(app, "10.0.0.1") as flood:
        statuses = [(await flood.get("/login")).status_code for _ in range(20)]
        resp = await flood.get("/login")
    assert statuses.count(303) == 2
    assert statuses.count(429) == 18
    assert resp.headers["retry-after"] == "300"  # 600 s per login / 2 per client
    assert "max_pending_logins_per_client" in resp.text
    async with client_for(app, "10.0.0.2") as victim:
        ok = await victim.get(
            "/oidc/callback",
            params={"code": "good", "state": params["state"]},
            headers={"Cookie": binding.split(";")[0]},
        )
    assert ok.status_code == 303
    assert any("codec-session=" in c for c in ok.headers.get_list("set-cookie"))
