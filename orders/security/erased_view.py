"""Show crypto-shredded values as ``erased`` (codec server, ``orders order show``).

A ``sealed:v2`` value stays sealed for a viewer, who could never open it anyway; once its
customer's Transit key is deleted it never opens for anybody, and the viewer is told so.
Whether a key exists is read from its metadata (``transit/keys/<key>``, the ``read``
capability on customers' keys: never key material), cached ``max_age`` seconds per
customer, so a page of history costs at most one request per customer shown.

Limit: once the erased customer orders again, their key exists anew; their old values
then still never open, but are shown as sealed, not ``erased``.
"""

from __future__ import annotations

from typing import Any, Final

from orders.contract.transit_names import TRANSIT_MOUNT, customer_key
from orders.security.lru import Lru
from orders.security.sealing import SEALED_V2_PREFIX, customer_tag
from orders.security.transit import TransitClient

ERASED: Final = "erased"
"""What a crypto-shredded value is shown as."""


class ErasedView:
    """Replaces the sealed values of erased customers with :data:`ERASED`.

    Args:
        transit: Transit client of an identity that may read customers' key metadata (the
            client, the codec server).
        max_age: Seconds an answer about one customer's key is kept.
        cache_size: Customers kept.
    """

    def __init__(
        self, transit: TransitClient, *, max_age: float = 30.0, cache_size: int = 1024
    ) -> None:
        self._transit = transit
        self._known: Lru[str, bool] = Lru(cache_size, max_age)

    async def erased(self, tag: str) -> bool:
        """Whether the key of the customer with ``tag`` no longer exists."""
        hit = self._known.get(tag)
        if hit is not None:
            return hit
        gone = await self._transit.read(f"{TRANSIT_MOUNT}/keys/{customer_key(tag)}") is None
        self._known.put(tag, gone)
        return gone

    async def mark(self, value: Any) -> Any:
        """``value`` (decoded JSON) with every erased customer's sealed value replaced."""
        if isinstance(value, str):
            if value.startswith(SEALED_V2_PREFIX):
                tag = customer_tag(value)
                if tag is not None and await self.erased(tag):
                    return ERASED
            return value
        if isinstance(value, dict):
            return {k: await self.mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [await self.mark(v) for v in value]
        return value
