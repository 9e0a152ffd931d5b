"""Async client for Vault's Transit engine (data keys, field encryption, rewrap).

Non-blocking (httpx), so the codec never stalls a worker's event loop, and it takes the
token from a callable so it always uses the Vault session's current token across
re-logins. It counts its requests: the benchmark reports Vault calls per order.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import httpx

from orders.security.trust import httpx_verify
from orders.security.vault import VaultUnavailableError

TRANSIT_MOUNT: Final = "transit"
_VERSION = re.compile(r"^vault:v(\d+):")


class TransitDeniedError(PermissionError):
    """Vault refused the operation (403): this identity's policy does not allow it."""


class TransitInvalidError(ValueError):
    """Vault rejected the input (400), e.g. a ciphertext that does not decrypt."""


@dataclass(frozen=True, repr=False)
class DataKey:
    """A data-encryption key: plaintext for local AES, wrapped form for the metadata."""

    plaintext: bytes
    wrapped: str
    version: int

    def __repr__(self) -> str:
        return f"DataKey(version={self.version})"


@dataclass(frozen=True)
class SigningKey:
    """Public half of an asymmetric Transit key, as far as it is in force.

    Attributes:
        public_keys: Version -> base64 public key, only versions at or above ``min_version``.
        min_version: Lowest version Transit still verifies.
    """

    public_keys: dict[int, str]
    min_version: int


def key_version(ciphertext: str) -> int:
    """Key version of a Transit ciphertext (``vault:v<N>:...``)."""
    match = _VERSION.match(ciphertext)
    if not match:
        raise TransitInvalidError("not a Vault Transit ciphertext")
    return int(match.group(1))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class TransitClient:
    """Transit operations for one identity.

    Args:
        vault_addr: Vault address.
        token: Returns the current Vault token (e.g. the worker's session token).
        verify: TLS verification (CA bundle path or bool).
        mount: Transit mount path.
        timeout: Per-request timeout in seconds.
        token_valid: Asked after a 403 whether the token itself is still valid (see
            ``VaultSession.token_valid``); if not, the 403 is an expired login, raised as
            :class:`VaultUnavailableError` (retry) rather than as a denial.
    """

    def __init__(
        self,
        vault_addr: str,
        token: Callable[[], str],
        *,
        verify: str | bool = True,
        mount: str = TRANSIT_MOUNT,
        timeout: float = 10.0,
        token_valid: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self._token = token
        self._token_valid = token_valid
        self._mount = mount
        self._http = httpx.AsyncClient(
            base_url=vault_addr, verify=httpx_verify(verify), timeout=timeout
        )
        self.requests = 0

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    async def _post(self, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """POST (DELETE when ``body`` is None) to the mount; the answer's ``data``."""
        self.requests += 1
        headers = {"X-Vault-Token": self._token()}
        try:
            if body is None:
                resp = await self._http.delete(f"/v1/{self._mount}/{path}", headers=headers)
            else:
                resp = await self._http.post(
                    f"/v1/{self._mount}/{path}", json=body, headers=headers
                )
        except httpx.HTTPError as exc:
            raise VaultUnavailableError(f"Transit unreachable: {type(exc).__name__}") from None
        if resp.status_code == 403:
            await self._expired_login()
            raise TransitDeniedError(f"Vault denied {self._mount}/{path.split('/')[0]}")
        if resp.status_code == 400:
            raise TransitInvalidError(f"Vault rejected {self._mount}/{path.split('/')[0]}")
        if resp.status_code >= 300:
            # 5xx, sealed (503), 429: infrastructure trouble the caller retries.
            raise VaultUnavailableError(f"Transit answered HTTP {resp.status_code}")
        if resp.status_code == 204 or not resp.content:
            return {}
        data: dict[str, Any] = resp.json().get("data") or {}
        return data

    async def _expired_login(self) -> None:
        """Raise VaultUnavailableError if a 403 came from a token Vault no longer knows."""
        if self._token_valid is not None and not await self._token_valid():
            raise VaultUnavailableError("Vault token expired or revoked; logging in again")

    async def read(self, path: str) -> dict[str, Any] | None:
        """``GET /v1/<path>`` with this identity's token: its ``data``, or None if absent (404).

        For reads outside the Transit mount that an identity's policy allows (the approver
        registry reads the approvers' group and entities); the same pool, token and count.

        Raises:
            TransitDeniedError: This token may not read ``path``.
            VaultUnavailableError: Vault unreachable or failing; the caller retries.
        """
        self.requests += 1
        try:
            resp = await self._http.get(f"/v1/{path}", headers={"X-Vault-Token": self._token()})
        except httpx.HTTPError as exc:
            raise VaultUnavailableError(f"Vault unreachable: {type(exc).__name__}") from None
        if resp.status_code == 403:
            await self._expired_login()
            raise TransitDeniedError(f"Vault denied {path}")
        if resp.status_code == 404:
            return None
        if resp.status_code >= 300:
            raise VaultUnavailableError(f"Vault answered HTTP {resp.status_code}")
        data: dict[str, Any] = resp.json()["data"]
        return data

    async def signing_key(self, key: str) -> SigningKey:
        """An asymmetric Transit key's public keys *in force* (``keys/<key>``).

        In force: at or above ``min_decryption_version`` (for a signing key, the lowest
        version Transit's own ``verify`` accepts) and ``min_available_version`` (older
        versions are trimmed). Retired versions are left out, as Transit would refuse them.

        Raises:
            TransitDeniedError: This token may not read the key.
            TransitInvalidError: No such key or not an asymmetric key.
        """
        data = await self.read(f"{self._mount}/keys/{key}")
        if data is None:
            raise TransitInvalidError(f"no Transit key {key!r}")
        try:
            lowest = max(
                1,
                int(data.get("min_decryption_version") or 1),
                int(data.get("min_available_version") or 0),
            )
            keys = {int(v): str(info["public_key"]) for v, info in data["keys"].items()}
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            raise TransitInvalidError(f"Transit key {key!r} has no public keys") from exc
        return SigningKey({v: k for v, k in keys.items() if v >= lowest}, lowest)

    async def datakey(self, key: str) -> DataKey:
        """A fresh AES-256 data key, plaintext and wrapped under ``key``."""
        data = await self._post(f"datakey/plaintext/{key}", {"bits": 256})
        wrapped = data["ciphertext"]
        return DataKey(base64.b64decode(data["plaintext"]), wrapped, key_version(wrapped))

    async def decrypt(self, key: str, ciphertext: str, context: bytes | None = None) -> bytes:
        """Decrypt a Transit ciphertext (``context`` for derived keys)."""
        body: dict[str, Any] = {"ciphertext": ciphertext}
        if context is not None:
            body["context"] = _b64(context)
        return base64.b64decode((await self._post(f"decrypt/{key}", body))["plaintext"])

    async def hmac(self, key: str, data: bytes, *, key_version: int | None = None) -> str:
        """HMAC-SHA256 of ``data`` with ``key`` (``vault:v<N>:<b64>``).

        Args:
            key: The Transit key.
            data: The input.
            key_version: The key version to use (default: the latest).
        """
        body: dict[str, Any] = {"input": _b64(data), "algorithm": "sha2-256"}
        if key_version is not None:
            body["key_version"] = key_version
        mac: str = (await self._post(f"hmac/{key}", body))["hmac"]
        return mac

    async def encrypt(self, key: str, plaintext: bytes, context: bytes | None = None) -> str:
        """Encrypt with ``key`` (``context`` for derived keys); returns ``vault:vN:…``.

        A missing key is created (Transit's upsert) if this token has the ``create``
        capability on the path; otherwise Vault refuses.
        """
        body: dict[str, Any] = {"plaintext": _b64(plaintext)}
        if context is not None:
            body["context"] = _b64(context)
        ciphertext: str = (await self._post(f"encrypt/{key}", body))["ciphertext"]
        return ciphertext

    async def destroy_key(self, key: str) -> bool:
        """Allow ``key`` to be deleted, then delete it: every version of it is gone for good.

        Returns:
            True if the key existed and was deleted, False if there was no such key.

        Raises:
            TransitDeniedError: This token may not configure or delete ``key``.
            VaultUnavailableError: Vault unreachable (nothing or only the flag changed).
        """
        try:
            await self._post(f"keys/{key}/config", {"deletion_allowed": True})
        except TransitInvalidError:
            # Transit answers 400 for a missing key: nothing to destroy.
            return False
        await self._post(f"keys/{key}", None)
        return True

    async def rewrap(self, key: str, ciphertext: str, context: bytes | None = None) -> str:
        """Re-encrypt under the newest key version without revealing the plaintext."""
        body: dict[str, Any] = {"ciphertext": ciphertext}
        if context is not None:
            body["context"] = _b64(context)
        rewrapped: str = (await self._post(f"rewrap/{key}", body))["ciphertext"]
        return rewrapped
