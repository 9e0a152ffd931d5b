"""The task token of a Temporal message, read and replaced without decoding the message.

Every message whose task token the front binds (poll responses, the ``Respond*`` requests,
``RecordActivityTaskHeartbeat``) has it as field 1, and both ends encode fields in number
order (Go's protobuf on the server, prost in the SDK's core), so the token is the first
thing on the wire. Reading it takes a few bytes; replacing it takes an appended field,
because a protobuf parser keeps the *last* value of a singular field. Decoding and
re-encoding the whole message — a workflow task carries history — cost most of the front's
CPU per call; the protobuf library offers no cheaper way to touch one field. Anything not
in that shape returns None here, and the caller decodes the message properly.
"""

from __future__ import annotations

from typing import Final

TOKEN_TAG: Final = 0x0A
"""Field 1, wire type 2 (length-delimited)."""


def _varint(data: bytes, pos: int) -> tuple[int, int] | None:
    value = shift = 0
    while pos < len(data) and shift < 64:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None


def leading_token(data: bytes) -> bytes | None:
    """Field 1 when it is the message's first field, else None (decode it instead)."""
    if not data or data[0] != TOKEN_TAG:
        return None
    parsed = _varint(data, 1)
    if parsed is None:
        return None
    length, start = parsed
    end = start + length
    return data[start:end] if end <= len(data) else None


def with_token(data: bytes, token: bytes) -> bytes:
    """``data`` whose field 1 now reads ``token`` (appended: the last value wins)."""
    length = len(token)
    prefix = bytearray([TOKEN_TAG])
    while True:
        byte = length & 0x7F
        length >>= 7
        if length:
            prefix.append(byte | 0x80)
        else:
            prefix.append(byte)
            break
    return data + bytes(prefix) + token
