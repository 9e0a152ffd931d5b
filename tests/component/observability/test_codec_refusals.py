"""A refused payload is counted by reason and by what became of it (#17).

Against a real OpenBao (the unit suite's dev server), through the codec's ordinary paths:
a worker's quarantine, a strict codec's error, the codec server's per-payload answer.
"""

from __future__ import annotations

import pytest
from temporalio.api.common.v1 import Payload

from orders.observability import metrics, names
from orders.security.codec import META_WRAPPED, PayloadRefusedError
from tests.support.codec import codec, plain
from tests.support.openbao import Transits, dev_vault, transits

__all__ = ["dev_vault", "transits"]


def refused(reason: str, action: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        f"{names.CODEC_REFUSED}_total",
        {names.IDENTITY: metrics.process_identity(), names.REASON: reason, names.ACTION: action},
    )
    return value or 0.0


async def test_quarantined_raised_and_left_encoded_are_counted_by_reason(
    transits: Transits,
) -> None:
    metrics.configure("order-workflow")
    before = refused(names.PLAINTEXT, names.QUARANTINED)
    await codec(transits).decode([plain(b"not encrypted")])
    assert refused(names.PLAINTEXT, names.QUARANTINED) == before + 1

    [sealed] = await codec(transits).encode([plain(b"secret")])
    tampered = Payload()
    tampered.CopyFrom(sealed)
    tampered.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    before = refused(names.AUTHENTICATION, names.RAISED)
    with pytest.raises(PayloadRefusedError):
        await codec(transits, quarantine=False).decode([tampered])
    assert refused(names.AUTHENTICATION, names.RAISED) == before + 1

    bogus = Payload()
    bogus.CopyFrom(sealed)
    bogus.metadata[META_WRAPPED] = b"vault:v1:bm90IGEga2V5"
    before = refused(names.KEY_REFUSED, names.LEFT_ENCODED)
    assert await codec(transits).decode_each([bogus]) == [None]
    assert refused(names.KEY_REFUSED, names.LEFT_ENCODED) == before + 1
