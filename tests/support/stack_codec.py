"""Names and helpers of the codec server tests against the session stack."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

import httpx
from temporalio.api.common.v1 import Payload

from orders.contract import identities

NS = identities.TEMPORAL_NAMESPACE

TokenFor = Callable[[str], Awaitable[str]]

Sealer = Callable[[object, str, str], Awaitable[Payload]]


async def start_login(http: httpx.AsyncClient, next_url: str) -> tuple[dict[str, str], str]:
    """``GET /login``: the authorization request's parameters and the binding cookie."""
    resp = await http.get("/login", params={"next": next_url})
    assert resp.status_code == 303, resp.text
    location = urlsplit(resp.headers["location"])
    cookie = resp.headers["set-cookie"].split(";")[0]
    return {k: v[0] for k, v in parse_qs(location.query).items()}, cookie
