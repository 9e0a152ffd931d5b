"""Task tokens bound to the principal that polled them.

Temporal answers a task by its opaque token, and any ``write`` caller holding a token may
answer it. The front hands each poller ``token || tag``, where ``tag`` is an HMAC-SHA256 of
(principal, token) under the front's key, and strips and checks the tag when a task is
answered: a token polled by ``order-notify`` cannot complete a payment task, and a token
seen in a log or guessed is useless. Stateless (no table of tokens), so a restarted front
or a second replica with the same key accepts tokens the first handed out.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

TAG_BYTES: Final = 16
MIN_KEY_BYTES: Final = 32


class TokenBinding:
    """Binds task tokens to principals with one secret key."""

    def __init__(self, key: bytes) -> None:
        """Keep the key.

        Raises:
            ValueError: A key shorter than 32 bytes.
        """
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"token key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key

    def _tag(self, principal: str, token: bytes) -> bytes:
        msg = principal.encode() + b"\x00" + token
        return hmac.new(self._key, msg, hashlib.sha256).digest()[:TAG_BYTES]

    def wrap(self, principal: str, token: bytes) -> bytes:
        """The token ``principal`` is handed (empty stays empty: no task)."""
        if not token:
            return token
        return token + self._tag(principal, token)

    def unwrap(self, principal: str, wrapped: bytes) -> bytes | None:
        """The original token if ``principal`` was handed ``wrapped``, else None."""
        if len(wrapped) <= TAG_BYTES:
            return None
        token, tag = wrapped[:-TAG_BYTES], wrapped[-TAG_BYTES:]
        return token if hmac.compare_digest(tag, self._tag(principal, token)) else None
