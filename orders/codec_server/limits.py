"""Per-principal request budgets of the codec server: token buckets with bounded memory.

Every decode may cost OpenBao one Transit request per data key the server has not
unwrapped yet, and the workers share that OpenBao. A person allowed to read payloads must
not be able to spend its capacity: each authenticated principal draws from its own bucket
(one token per request, plus one per data key the request would make the server unwrap),
refilled at a steady rate up to a burst a Temporal UI page load fits in.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class TokenBucket:
    """``capacity`` tokens, refilled at ``rate`` per second.

    Attributes:
        rate: Tokens added per second.
        capacity: Most tokens held (the burst).
        tokens: Tokens held at ``updated``.
        updated: Clock reading of the last refill.
    """

    rate: float
    capacity: float
    tokens: float
    updated: float

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = now

    def take(self, cost: float, now: float) -> float:
        """Spend ``cost`` tokens if held; returns 0, or the seconds until they will be.

        A cost above the capacity is charged as the capacity: such a request needs a full
        bucket, rather than never being served.
        """
        self._refill(now)
        cost = min(cost, self.capacity)
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate

    def give_back(self, cost: float, now: float) -> None:
        """Return ``cost`` tokens (never beyond the capacity)."""
        self._refill(now)
        self.tokens = min(self.capacity, self.tokens + cost)

    def full(self, now: float) -> bool:
        """Whether the bucket is full (forgetting it loses nothing)."""
        self._refill(now)
        return self.tokens >= self.capacity


class RateLimiter:
    """One :class:`TokenBucket` per key (an authenticated principal's subject).

    Memory is bounded: at most ``max_keys`` buckets, least recently used dropped first.
    Only authenticated principals get a bucket, so reaching the bound takes that many real
    identities active at once; a dropped bucket comes back full.

    Args:
        rate: Tokens per second per key.
        burst: Bucket capacity per key.
        max_keys: Buckets kept.
        clock: Monotonic clock (tests pass their own).
    """

    def __init__(
        self,
        rate: float,
        burst: float,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("need rate > 0, burst >= 1 and max_keys >= 1")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key: str, cost: float = 1.0) -> float:
        """Charge ``key`` ``cost`` tokens; returns 0 (allowed) or seconds to wait (refused)."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            self._make_room(now)
            bucket = TokenBucket(self.rate, self.burst, self.burst, now)
            self._buckets[key] = bucket
        else:
            self._buckets.move_to_end(key)
        return bucket.take(cost, now)

    def give_back(self, key: str, cost: float = 1.0) -> None:
        """Return ``cost`` tokens to ``key``'s bucket, if it still has one."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.give_back(cost, self._clock())

    def _make_room(self, now: float) -> None:
        if len(self._buckets) < self.max_keys:
            return
        # Full buckets carry no state: forget those first, then the least recently used.
        for key in [k for k, b in self._buckets.items() if b.full(now)]:
            if len(self._buckets) < self.max_keys:
                return
            del self._buckets[key]
        while len(self._buckets) >= self.max_keys:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
