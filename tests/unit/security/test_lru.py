"""The one bounded, expiring LRU behind the key caches."""

from __future__ import annotations

import time

import pytest

from orders.security.lru import Lru


def test_least_recently_used_is_evicted_first() -> None:
    cache: Lru[str, int] = Lru(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == (1, 3)
    cache.drop("a")
    assert not cache.holds("a")


def test_entries_expire_max_age_after_they_were_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    cache: Lru[str, bool] = Lru(8, max_age=30)
    cache.put("t", False)
    now[0] += 29.9
    assert cache.holds("t")
    assert cache.get("t") is False  # a stored False is an answer, not a miss
    now[0] += 0.1
    assert not cache.holds("t")
    assert cache.get("t") is None
