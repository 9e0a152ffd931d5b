"""Sealed cookies: the codec server's login state and sessions live in the browser.

Nothing about a login in progress or a session is kept in the process, so any replica
serves any request and a restart or rollout signs nobody out. Each cookie is AES-256-GCM
(``cryptography``) under a key every replica derives alike and nobody else can:

    cookie key = HKDF-SHA256(HMAC(transit key ``orders-codec-cookie``, fixed label))

The HMAC is computed by OpenBao (``transit/hmac``, a right only the ``codec-server``
identity has) once per process start; checking a cookie afterwards costs no OpenBao request.
The cookie's name is the associated data, so a login cookie never opens as a session, and
the expiry is inside the sealed part, so a browser cannot extend it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from orders.contract import transit_names

KEY_LABEL: Final = b"orders codec-server cookie key v1"
"""What OpenBao MACs: a constant, so every replica gets the same MAC (and key)."""
NONCE_BYTES: Final = 12
MAX_COOKIE_CHARS: Final = 4000
"""Browsers keep cookies up to 4096 bytes (name included); larger ones are never sent back."""


class CookieTooLargeError(ValueError):
    """The sealed value would not fit in a cookie."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CookieSealer:
    """Seals JSON objects into cookie values and opens them again.

    Args:
        key: 32 bytes (see :func:`derive_key`).
        version: The Transit key version it was derived from, written in each cookie so
            that a cookie sealed under another version is refused plainly.
        clock: Wall clock, epoch seconds (tests pass their own).
    """

    def __init__(
        self, key: bytes, version: int = 1, clock: Callable[[], float] = time.time
    ) -> None:
        if len(key) != 32:
            raise ValueError("the cookie key must be 32 bytes")
        self._aead = AESGCM(key)
        self.version = version
        self._clock = clock

    def seal(self, name: str, content: dict[str, Any], expires_at: float) -> str:
        """``content`` (JSON) sealed for cookie ``name`` until ``expires_at`` (epoch seconds).

        Raises:
            CookieTooLargeError: The result would not fit in a cookie.
        """
        plain = json.dumps({"exp": int(expires_at), "v": content}, separators=(",", ":"))
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plain.encode(), name.encode())
        value = f"v{self.version}.{_b64(nonce + sealed)}"
        if len(name) + len(value) > MAX_COOKIE_CHARS:
            raise CookieTooLargeError(f"cookie {name} would be {len(value)} characters")
        return value

    def open(self, name: str, value: str | None) -> dict[str, Any] | None:
        """The content of a live cookie ``name`` sealed here; None for anything else."""
        if not value or len(value) > MAX_COOKIE_CHARS:
            return None
        version, _, body = value.partition(".")
        if version != f"v{self.version}":
            return None
        try:
            raw = _unb64(body)
            plain = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], name.encode())
            opened = json.loads(plain)
        except (binascii.Error, ValueError, InvalidTag):
            return None
        if not isinstance(opened, dict) or not isinstance(opened.get("v"), dict):
            return None
        expires_at = opened.get("exp")
        if not isinstance(expires_at, int) or expires_at <= self._clock():
            return None
        content: dict[str, Any] = opened["v"]
        return content


def key_from_mac(mac: str) -> tuple[bytes, int]:
    """The cookie key and Transit key version from ``vault:v<N>:<base64 HMAC>``.

    Raises:
        ValueError: Not a Transit HMAC.
    """
    prefix, version, encoded = [*mac.split(":", 2), "", ""][:3]
    if prefix != "vault" or not version.startswith("v") or not version[1:].isdigit():
        raise ValueError("not a Transit HMAC")
    secret = base64.b64decode(encoded, validate=True)
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_LABEL)
    return hkdf.derive(secret), int(version[1:])


HmacFn = Callable[[str, bytes], Awaitable[str]]
"""(Transit key, data) -> ``vault:v<N>:<base64>`` (e.g. ``TransitClient.hmac``)."""


async def derive_sealer(hmac: HmacFn) -> CookieSealer:
    """The cookie sealer of this deployment: one ``transit/hmac`` request.

    Raises:
        TransitDeniedError: This identity may not use the cookie key.
        VaultUnavailableError: OpenBao unreachable.
    """
    key, version = key_from_mac(await hmac(transit_names.CODEC_COOKIE_KEY, KEY_LABEL))
    return CookieSealer(key, version)
