"""A bounded LRU map whose entries may expire: the one cache behind every key cache here.

Data keys (:mod:`orders.security.keyring`), customer keys
(:mod:`orders.security.customer_keys`) and erased-customer answers
(:mod:`orders.security.erased_view`) are all kept the same way: at most ``size`` entries,
least recently used evicted first, and (where a bound on staleness matters) each entry
forgotten ``max_age`` seconds after it was stored.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    """At most ``size`` entries, each kept ``max_age`` seconds after it was stored (None: no limit).

    Values are never None (``get`` answers None for a missing or expired entry).
    """

    def __init__(self, size: int, max_age: float | None = None) -> None:
        self._size = size
        self._max_age = max_age
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The entry for ``key`` (now the most recently used), or None if absent or expired."""
        item = self._items.get(key)
        if item is None:
            return None
        if self._max_age is not None and time.monotonic() - item[0] >= self._max_age:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return item[1]

    def holds(self, key: K) -> bool:
        """Whether ``key`` has a live entry (its recency is left as it is)."""
        item = self._items.get(key)
        return item is not None and (
            self._max_age is None or time.monotonic() - item[0] < self._max_age
        )

    def put(self, key: K, value: V) -> None:
        """Store ``value`` (as the most recently used), evicting the least recently used."""
        self._items[key] = (time.monotonic(), value)
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def drop(self, key: K) -> None:
        """Forget ``key`` if present."""
        self._items.pop(key, None)
