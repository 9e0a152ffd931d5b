"""The codec server under abuse, on the real stack (issue 16): each bound, shown to hold.

- A principal over its budget gets 429 with ``Retry-After``; another principal is served.
- Copies of one wrapped key cost OpenBao one ``transit/decrypt`` per request, counted in
  OpenBao's own audit log (the request whose HMAC'd ciphertext is that key's).
- A flood of ``GET /login`` gets 429 and never evicts another browser's login in progress.
- A compression bomb sealed with a real data key comes back still encrypted, not expanded.

Spending principals: ``alice`` (an approver: ``orders:read``, whom no other codec test
uses) exhausts her own budget; ``dev-viewer`` spends three tokens of its 200.
"""

from __future__ import annotations

import base64
import json
import os
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client

from orders import oidc
from orders.codec_server.settings import DEFAULT_RATE_BURST, DEFAULT_RATE_PER_SECOND
from orders.contract import transit_names
from orders.devstack import people as dev_people
from orders.devstack.state import StackInfo, StackPaths
from orders.security.codec import (
    DEFAULT_MAX_DECODED_BYTES,
    ENCODING,
    FORMAT,
    META_COMPRESSION,
    META_CONTEXT,
    META_ENCODING,
    META_FORMAT,
    META_KEY,
    META_VERSION,
    META_WRAPPED,
    NONCE_BYTES,
    EnvelopeCodec,
    bound_context,
)
from orders.security.keyring import KeyRing
from orders.security.transit import DataKey
from orders.security.trust import httpx_verify
from orders.vault import people as vault_people
from tests.support import stack as support
from tests.support.stack_codec import NS, TokenFor, start_login

pytestmark = pytest.mark.integration

SPENDER, VIEWER = "alice", "dev-viewer"
COPIES = 100


def envelope(wrapped: str, data: bytes, workflow_id: str, compression: bytes = b"none") -> Payload:
    """An envelope payload as the codec writes it, around ``data`` (nonce + ciphertext)."""
    return Payload(
        metadata={
            META_ENCODING: ENCODING,
            META_FORMAT: FORMAT,
            META_KEY: transit_names.PAYLOAD_KEY.encode(),
            META_VERSION: b"1",
            META_WRAPPED: wrapped.encode(),
            META_CONTEXT: bound_context(NS, workflow_id).encode(),
            META_COMPRESSION: compression,
        },
        data=data,
    )


def sealed(key: DataKey, inner: Payload, workflow_id: str, *, compress: bool = False) -> Payload:
    """``inner`` sealed with a real data key (what any identity that may create keys can do)."""
    raw = inner.SerializeToString()
    raw = zlib.compress(raw, 9) if compress else raw
    nonce = os.urandom(NONCE_BYTES)
    context = bound_context(NS, workflow_id).encode()
    data = nonce + AESGCM(key.plaintext).encrypt(nonce, raw, context)
    payload = envelope(key.wrapped, data, workflow_id, b"zlib" if compress else b"none")
    payload.metadata[META_VERSION] = str(key.version).encode()
    return payload


def json_payload(value: object) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())


async def decode(http: httpx.AsyncClient, token: str, payloads: list[Payload]) -> httpx.Response:
    return await http.post(
        "/decode",
        content=json_format.MessageToJson(Payloads(payloads=payloads)),
        headers={"Authorization": f"Bearer {token}", "X-Namespace": NS},
    )


def returned(response: httpx.Response) -> list[Payload]:
    assert response.status_code == 200, response.text
    return list(json_format.Parse(response.content, Payloads()).payloads)


async def fresh_data_key(client: Client) -> DataKey:
    """A data key no process has unwrapped yet (a new key ring asks Transit for one)."""
    codec = client.data_converter.payload_codec
    assert isinstance(codec, EnvelopeCodec)
    return await KeyRing(codec.transit, transit_names.PAYLOAD_KEY).current()


async def test_a_principal_over_its_budget_gets_429_and_others_are_served(
    http: httpx.AsyncClient, token_for: TokenFor
) -> None:
    """Each data key the server does not hold is priced before OpenBao sees the request.

    These keys are priced (envelope metadata, unknown wrapped keys) but refused for their
    format before any unwrap, so spending the budget costs OpenBao nothing here.
    """
    spender, bystander = await token_for(SPENDER), await token_for(VIEWER)
    count = DEFAULT_RATE_BURST * 3 // 4
    priced = [envelope(f"vault:v1:unknown-{i}", b"x" * 32, "wf-budget") for i in range(count)]
    for payload in priced:
        del payload.metadata[META_FORMAT]
    first = await decode(http, spender, priced)
    assert len(returned(first)) == count  # served: 1 + count tokens of the burst
    second = await decode(http, spender, priced)
    assert second.status_code == 429, second.text
    wait = int(second.headers["retry-after"])
    assert 1 <= wait <= DEFAULT_RATE_BURST / DEFAULT_RATE_PER_SECOND
    assert second.json()["limit"] == "rate_per_second"
    # One principal's exhausted budget is not another's.
    assert len(returned(await decode(http, bystander, priced[:1]))) == 1


def decrypts_logged(audit_log: Path, offset: int, hashes: dict[str, str]) -> dict[str, int]:
    """``transit/decrypt`` requests in OpenBao's audit log since ``offset``, per name.

    The audit device HMACs request data, so a ciphertext is recognised by its HMAC
    (``sys/audit-hash``), whoever sent it.
    """
    counts = dict.fromkeys(hashes, 0)
    by_hash = {h: name for name, h in hashes.items()}
    path = f"{transit_names.TRANSIT_MOUNT}/decrypt/{transit_names.PAYLOAD_KEY}"
    with audit_log.open("rb") as fh:
        fh.seek(offset)
        for line in fh:
            if b'"type":"request"' not in line:
                continue
            request = json.loads(line)["request"]
            ciphertext = (request.get("data") or {}).get("ciphertext")
            if request.get("path") == path and ciphertext in by_hash:
                counts[by_hash[ciphertext]] += 1
    return counts


def audit_hash(stack: StackInfo, value: str) -> str:
    answer: dict[str, Any] = support.vault(stack, stack.root_token()).write_data(
        "sys/audit-hash/file", data={"input": value}
    )
    digest: str = answer["data"]["hash"]
    return digest


async def test_copies_of_a_wrapped_key_cost_openbao_one_decrypt_per_request(
    http: httpx.AsyncClient,
    token_for: TokenFor,
    client: Client,
    stack: StackInfo,
    stack_paths: StackPaths,
) -> None:
    key = await fresh_data_key(client)
    real = [sealed(key, json_payload({"copy": i}), "wf-copies") for i in range(COPIES)]
    bogus_key = "vault:v1:" + base64.b64encode(os.urandom(60)).decode()
    bogus = [envelope(bogus_key, os.urandom(48), "wf-copies")] * COPIES
    hashes = {"real": audit_hash(stack, key.wrapped), "bogus": audit_hash(stack, bogus_key)}
    audit_log = stack_paths.log_file("openbao-audit")
    offset = audit_log.stat().st_size

    out = returned(await decode(http, await token_for(VIEWER), real + bogus))
    assert [json.loads(p.data) for p in out[:COPIES]] == [{"copy": i} for i in range(COPIES)]
    assert out[COPIES:] == bogus  # refused by OpenBao once, left encrypted
    # The audit device writes each entry before OpenBao answers: no waiting needed.
    assert decrypts_logged(audit_log, offset, hashes) == {"real": 1, "bogus": 1}


async def test_a_login_flood_gets_429_and_never_evicts_another_browsers_login(
    http: httpx.AsyncClient, codec_url: str, stack: StackInfo, stack_paths: StackPaths
) -> None:
    """All test clients share 127.0.0.1: the flood fills that address's room, then 429."""
    query, binding = await start_login(http, f"{stack.ui_url}/namespaces")
    flood_logins: list[tuple[str, str]] = []
    callback = vault_people.CODEC_CALLBACK_PATH
    async with httpx.AsyncClient(
        base_url=codec_url, timeout=30, verify=httpx_verify(stack.verify)
    ) as flood:
        try:
            refused = None
            for _ in range(40):
                flood.cookies.clear()  # a new browser each time, as a script would be
                resp = await flood.get("/login")
                if resp.status_code == 429:
                    refused = resp
                    break
                assert resp.status_code == 303, resp.text
                state = httpx.URL(resp.headers["location"]).params["state"]
                flood_logins.append((state, resp.headers["set-cookie"].split(";")[0]))
            assert refused is not None, f"{len(flood_logins)} logins started, none refused"
            assert int(refused.headers["retry-after"]) >= 1
            assert "Too many sign-ins" in refused.text

            password = dev_people.dev_password(stack_paths, VIEWER)
            code = await oidc.authorize_as_person(
                stack.vault_addr, query, VIEWER, password, verify=stack.verify
            )
            done = await http.get(
                callback,
                params={"code": code, "state": query["state"]},
                headers={"Cookie": binding},
            )
            assert done.status_code == 303, done.text
            assert any("codec-session" in c for c in done.headers.get_list("set-cookie"))
        finally:
            # Leave no room taken for the tests after this one (logins live 10 minutes).
            for state, cookie in flood_logins:
                await flood.get(
                    callback,
                    params={"error": "access_denied", "state": state},
                    headers={"Cookie": cookie},
                )


async def test_a_compression_bomb_is_left_encrypted_not_expanded(
    http: httpx.AsyncClient, token_for: TokenFor, client: Client
) -> None:
    key = await fresh_data_key(client)
    big = Payload(metadata={"encoding": b"binary/plain"}, data=bytes(DEFAULT_MAX_DECODED_BYTES))
    bomb = sealed(key, big, "wf-bomb", compress=True)
    assert len(bomb.data) < 64 * 1024  # 4 MiB and more once inflated
    fine = sealed(key, json_payload({"fine": True}), "wf-bomb", compress=True)
    out = returned(await decode(http, await token_for(VIEWER), [bomb, fine]))
    assert out[0] == bomb  # refused: what was sent comes back, still encrypted
    assert json.loads(out[1].data) == {"fine": True}
