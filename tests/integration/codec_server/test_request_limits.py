"""The codec server's request limits on the real stack: 413 with a body naming the limit.

Requests go as ``dev-other-viewer`` on its own namespace (``billing``), so they spend none
of ``dev-viewer``'s rate budget, and only two of its own 200 (each refusal costs one).
"""

from __future__ import annotations

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from orders.codec_server.settings import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_PAYLOADS
from tests.support.stack_codec import TokenFor

pytestmark = pytest.mark.integration

USER, NAMESPACE = "dev-other-viewer", "billing"


async def test_too_many_payloads_get_413_naming_the_limit(
    http: httpx.AsyncClient, token_for: TokenFor
) -> None:
    headers = {
        "Content-Type": "application/json",
        "X-Namespace": NAMESPACE,
        "Authorization": f"Bearer {await token_for(USER)}",
    }
    payloads = [Payload(metadata={"encoding": b"json/plain"}, data=b"1")] * (
        DEFAULT_MAX_PAYLOADS + 1
    )
    content = json_format.MessageToJson(Payloads(payloads=payloads))
    assert len(content) < DEFAULT_MAX_BODY_BYTES  # refused for the count, not the size
    resp = await http.post("/decode", content=content, headers=headers)
    assert resp.status_code == 413
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json() == {
        "error": f"more than {DEFAULT_MAX_PAYLOADS} payloads in one request",
        "limit": "max_payloads_per_request",
        "max": DEFAULT_MAX_PAYLOADS,
    }


async def test_body_over_the_limit_gets_413_naming_the_limit(
    http: httpx.AsyncClient, token_for: TokenFor
) -> None:
    headers = {"X-Namespace": NAMESPACE, "Authorization": f"Bearer {await token_for(USER)}"}
    resp = await http.post("/decode", content=b"x" * (DEFAULT_MAX_BODY_BYTES + 1), headers=headers)
    assert resp.status_code == 413
    assert resp.json() == {
        "error": f"body larger than {DEFAULT_MAX_BODY_BYTES} bytes",
        "limit": "max_body_bytes",
        "max": DEFAULT_MAX_BODY_BYTES,
    }
