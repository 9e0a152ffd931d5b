"""Per-customer key material: what crypto-shredding a customer destroys.

Every customer has a Transit key of their own, ``orders-customer-<tag>``, where the tag is
an HMAC of the customer id under a dedicated Transit key (``customer-key-names``), so a
customer id never appears in a key name, in Vault's storage or in its audit log. A sealed
value (``sealed:v2``, :mod:`orders.security.sealing`) is encrypted under a content key
derived from two data keys: the field's (wrapped by its consumer's key, need-to-know as
before) and the customer's (wrapped by the customer's key). Deleting the customer's
Transit key therefore makes every sealed value of that customer unreadable, wherever a
copy is kept (history, tables, dumps, exports), with every key and policy that remains.

The client wraps a fresh random customer data key with Transit ``encrypt``; the first
encryption creates the customer's key (Transit's upsert, allowed by the ``create``
capability on ``transit/encrypt/orders-customer-*``), so an erased customer's next order
gets new key material by itself. Consumers unwrap with Transit ``decrypt``.

Both sides cache with the bounds of field data keys (:class:`~orders.security.keyring.KeyRing`):
a customer data key seals for ``max_age`` seconds or ``max_uses`` values; an unwrapped one is
kept ``max_age`` seconds at most (LRU, ``cache_size`` entries), so an erasure reaches a
running consumer within ``max_age`` seconds, and Vault sees about one request per customer
and identity per ``max_age``, whatever the number of orders.
"""

from __future__ import annotations

import asyncio
import base64
import os
from dataclasses import dataclass
from typing import Final

from orders.contract.transit_names import CUSTOMER_NAMES_KEY, customer_key
from orders.security.lru import Lru
from orders.security.transit import TransitClient, TransitInvalidError

TAG_BYTES: Final = 16
"""Bytes of the customer-id HMAC kept in the key name (128 bits: no collisions in practice)."""
NAME_KEY_VERSION: Final = 1
"""The names key version every tag is computed with: a rotation must never rename keys."""
DATA_KEY_BYTES: Final = 32


class CustomerErasedError(LookupError):
    """The customer's key material is gone: the sealed value can never be opened again.

    Raised when the customer's Transit key no longer exists or no longer opens the value's
    wrapped customer data key (erased, and re-created for a later order). Never retryable.
    """


@dataclass(frozen=True, repr=False)
class CustomerDataKey:
    """A customer data key: its tag, plaintext (local AES) and wrapped form (in the value)."""

    tag: str
    plaintext: bytes
    wrapped: str

    def __repr__(self) -> str:
        return f"CustomerDataKey(tag={self.tag})"


def tag_of(mac: str) -> str:
    """The key-name tag of a Transit HMAC (``vault:v1:<base64>``): its first 16 bytes, hex."""
    try:
        raw = base64.b64decode(mac.rsplit(":", 1)[1], validate=True)
    except (IndexError, ValueError):
        raise TransitInvalidError("not a Transit HMAC") from None
    return raw[:TAG_BYTES].hex()


class CustomerKeys:
    """Customer data keys of one process, cached.

    Args:
        transit: Transit client of this process's identity (the client creates and wraps;
            consumers unwrap; the eraser only names).
        max_uses: Values sealed under one customer data key before a new one is made.
        max_age: Seconds a customer data key seals, and an unwrapped one is kept.
        cache_size: Customers (and unwrapped keys) kept.
    """

    def __init__(
        self,
        transit: TransitClient,
        *,
        max_uses: int = 10_000,
        max_age: float = 300.0,
        cache_size: int = 1024,
    ) -> None:
        self.transit = transit
        self.max_uses = max_uses
        # Tags never change (the names key version is pinned): kept without expiry.
        self._tags: Lru[str, str] = Lru(cache_size, None)
        self._current: Lru[str, tuple[CustomerDataKey, list[int]]] = Lru(cache_size, max_age)
        self._unwrapped: Lru[tuple[str, str], bytes] = Lru(cache_size, max_age)
        # One key being made per customer at a time, and only for that customer: a Vault
        # round trip for one customer never holds up another's seal. Entries last as long
        # as the request, so this stays as small as the requests in flight.
        self._making: dict[str, asyncio.Task[None]] = {}

    async def tag(self, customer_id: str) -> str:
        """The customer's tag (hex): names their Transit key, never reveals the id."""
        cached = self._tags.get(customer_id)
        if cached is None:
            mac = await self.transit.hmac(
                CUSTOMER_NAMES_KEY, customer_id.encode(), key_version=NAME_KEY_VERSION
            )
            cached = tag_of(mac)
            self._tags.put(customer_id, cached)
        return cached

    async def current(self, customer_id: str) -> CustomerDataKey:
        """The data key to seal the customer's next value with (counts one use)."""
        while True:
            entry = self._current.get(customer_id)
            if entry is not None and entry[1][0] < self.max_uses:
                entry[1][0] += 1
                return entry[0]
            making = self._making.get(customer_id)
            if making is None:
                making = asyncio.create_task(self._new_key(customer_id))
                self._making[customer_id] = making
                making.add_done_callback(lambda _: self._making.pop(customer_id, None))
            # Shielded: a caller that gives up does not cancel the key others wait for.
            await asyncio.shield(making)

    async def _new_key(self, customer_id: str) -> None:
        tag = await self.tag(customer_id)
        plaintext = os.urandom(DATA_KEY_BYTES)
        wrapped = await self.transit.encrypt(customer_key(tag), plaintext)
        self._current.put(customer_id, (CustomerDataKey(tag, plaintext, wrapped), [0]))
        self._unwrapped.put((tag, wrapped), plaintext)

    async def unwrap(self, tag: str, wrapped: str) -> bytes:
        """The plaintext of a customer data key (asks Transit at most once per ``max_age``).

        Raises:
            CustomerErasedError: The customer's key is gone or does not open ``wrapped``.
            TransitDeniedError: This identity may not unwrap customer keys.
            VaultUnavailableError: Vault unreachable (the caller retries).
        """
        cached = self._unwrapped.get((tag, wrapped))
        if cached is not None:
            return cached
        try:
            plaintext = await self.transit.decrypt(customer_key(tag), wrapped)
        except TransitInvalidError:
            raise CustomerErasedError(
                f"the customer key {customer_key(tag)} is erased (or the value was altered)"
            ) from None
        self._unwrapped.put((tag, wrapped), plaintext)
        return plaintext

    def forget(self, customer_id: str) -> None:
        """Drop the customer's sealing key here (an erasure in this very process)."""
        self._current.drop(customer_id)


__all__ = ["CustomerDataKey", "CustomerErasedError", "CustomerKeys", "tag_of"]
