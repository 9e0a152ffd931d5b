"""The envelope codec under hostile input, against a real OpenBao with the literal policies.

Whoever may create data keys (any worker identity) can seal anything: a compression bomb,
bytes that are no Payload, thousands of copies of one bogus wrapped key. Each is refused
through the codec's ordinary path (quarantined as ``binary/refused`` by a worker, left
encrypted by the codec server), never expanded, and never costs Vault more than one
request per distinct wrapped key.
"""

from __future__ import annotations

import base64
import os
import tracemalloc
import zlib

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload

from orders.security.codec import (
    META_COMPRESSION,
    META_ENCODING,
    META_REFUSED,
    META_WRAPPED,
    NONCE_BYTES,
    REFUSED,
    EnvelopeCodec,
    PayloadRefusedError,
    PayloadTooLargeError,
    inflate,
)
from orders.security.transit import TransitInvalidError
from tests.support.codec import LIMIT, codec, plain
from tests.support.openbao import Transits, dev_vault, transits

__all__ = ["dev_vault", "transits"]


async def resealed(c: EnvelopeCodec, inner: bytes, compression: bytes = b"zlib") -> Payload:
    """A payload sealed with a real data key around chosen bytes (what a key holder can do)."""
    [template] = await c.encode([plain(b"template")])
    key = await c.keys.unwrap(bytes(template.metadata[META_WRAPPED]).decode())
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, inner, c.context.encode())
    template.metadata[META_COMPRESSION] = compression
    template.data = nonce + sealed
    return template


async def test_round_trip_up_to_the_limit_with_and_without_compression(
    transits: Transits,
) -> None:
    c = codec(transits)
    compressible = plain(b"a" * (LIMIT - 64))
    random = plain(os.urandom(LIMIT - 64))
    encoded = await c.encode([compressible, random])
    assert [bytes(p.metadata[META_COMPRESSION]) for p in encoded] == [b"zlib", b"none"]
    assert await c.decode(encoded) == [compressible, random]


async def test_a_compression_bomb_is_refused_never_expanded(transits: Transits) -> None:
    bomb_size = 256 * 1024 * 1024
    inflater = zlib.compressobj(9)
    chunk = b"\0" * (1024 * 1024)
    bomb = b"".join(inflater.compress(chunk) for _ in range(bomb_size // len(chunk)))
    bomb += inflater.flush()
    assert len(bomb) < bomb_size // 500
    c = codec(transits)
    payload = await resealed(c, bomb)
    tracemalloc.start()
    try:
        [marker] = await c.decode([payload])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert marker.metadata[META_ENCODING] == REFUSED
    assert b"expands beyond" in marker.metadata[META_REFUSED]
    assert marker.data == b""
    assert peak < 16 * 1024 * 1024  # copies of the ciphertext and the limit, not 256 MiB
    with pytest.raises(PayloadRefusedError, match="expands beyond"):
        await codec(transits, quarantine=False).decode([payload])
    assert await codec(transits).decode_each([payload]) == [None]


@pytest.mark.parametrize(
    ("inner", "compression", "reason"),
    [
        (b"not zlib at all", b"zlib", "corrupt"),
        (zlib.compress(plain(b"x").SerializeToString())[:-3], b"zlib", "truncated"),
        (zlib.compress(plain(b"x").SerializeToString()) + b"junk", b"zlib", "trailing"),
        (b"\xff\xff\xff\xff", b"none", "not a serialised Payload"),
        (b"\0" * (LIMIT + 1), b"none", "larger than"),
    ],
)
async def test_authentic_but_malformed_contents_are_refused(
    transits: Transits, inner: bytes, compression: bytes, reason: str
) -> None:
    c = codec(transits)
    [marker] = await c.decode([await resealed(c, inner, compression)])
    assert marker.metadata[META_ENCODING] == REFUSED
    assert reason.encode() in marker.metadata[META_REFUSED]


async def test_encoding_beyond_the_limit_is_refused(transits: Transits) -> None:
    with pytest.raises(PayloadTooLargeError, match=str(LIMIT)):
        await codec(transits).encode([plain(os.urandom(LIMIT + 1))])


async def test_one_bogus_wrapped_key_costs_vault_one_request_per_call(
    transits: Transits,
) -> None:
    c = codec(transits)
    [good] = await c.encode([plain(b"fine")])
    bogus = Payload()
    bogus.CopyFrom(good)
    fake = base64.b64encode(os.urandom(60)).decode()
    bogus.metadata[META_WRAPPED] = f"vault:v1:{fake}".encode()
    transit = c.transit
    before = transit.requests
    assert await c.decode_each([bogus] * 50 + [good]) == [None] * 50 + [plain(b"fine")]
    assert transit.requests - before == 1
    assert c.unwraps_needed([bogus] * 50 + [good]) == 1  # the good key is held already
    with pytest.raises(TransitInvalidError):  # a worker's decode: Vault's answer, as before
        await c.decode([bogus])


def test_inflate_bounds() -> None:
    data = zlib.compress(b"z" * 100)
    assert inflate(data, 100) == b"z" * 100
    with pytest.raises(PayloadRefusedError, match="expands beyond 99 bytes"):
        inflate(data, 99)
