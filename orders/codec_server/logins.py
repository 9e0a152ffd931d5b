"""Bounds on browser logins in progress, now that their state lives in the browser.

A login in progress is a sealed cookie (:mod:`orders.codec_server.cookies`), so it costs the
server no memory; what stays bounded is how fast anyone may start them. Each client address
may start ``max_per_client`` logins per login lifetime (a token bucket refilled at that
pace), and the server ``max_pending`` in all; beyond either, 429 with ``Retry-After``. A
browser holds one login cookie, so starting again replaces its own login; a login that
ends (its callback, with its cookie, from the address that started it) gives its share
back, once: its ``state`` is remembered as used until the login would have expired.

These buckets are per process: with N replicas an address may start N times as many, which
is the price of keeping no shared state (a shared store would be the only alternative).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

from orders.codec_server.limits import RateLimiter, TokenBucket


class TooManyLoginsError(Exception):
    """No room for another login in progress (429): the client's share, or the server's.

    Attributes:
        limit: The bound reached (its setting's name), for the answer.
        maximum: Its value.
        retry_after: Seconds until a login can start again.
    """

    def __init__(self, limit: str, maximum: int, retry_after: float) -> None:
        super().__init__(f"too many sign-ins in progress ({limit} = {maximum})")
        self.limit = limit
        self.maximum = maximum
        self.retry_after = retry_after


class LoginLimiter:
    """Who may start a login now, and which logins have ended (each state ends once).

    Args:
        ttl_seconds: How long a login may take (its cookie's lifetime).
        max_pending: Logins started per ``ttl_seconds``, in all.
        max_per_client: Logins started per ``ttl_seconds`` per client address.
        max_clients: Addresses tracked at once (least recently seen forgotten first).
        clock: Monotonic clock (tests pass their own).
    """

    def __init__(
        self,
        ttl_seconds: float = 600.0,
        max_pending: int = 10_000,
        max_per_client: int = 20,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_pending = max_pending
        self.max_per_client = max_per_client
        self._clock = clock
        self._clients = RateLimiter(
            max_per_client / ttl_seconds, max_per_client, max_clients, clock
        )
        now = clock()
        self._total = TokenBucket(max_pending / ttl_seconds, max_pending, max_pending, now)
        # Ended states (digests), in expiry order; at most max_pending of them can be live.
        self._ended: OrderedDict[str, float] = OrderedDict()

    def start(self, client: str) -> None:
        """Count one login started by ``client``.

        Raises:
            TooManyLoginsError: The client, or the server, has no room for another one.
        """
        now = self._clock()
        wait = self._clients.take(client)
        if wait > 0:
            raise TooManyLoginsError("max_pending_logins_per_client", self.max_per_client, wait)
        wait = self._total.take(1, now)
        if wait > 0:
            self._clients.give_back(client)
            raise TooManyLoginsError("max_pending_logins", self.max_pending, wait)

    def end(self, state: str, client: str, started_by: str) -> bool:
        """Mark the login ``state`` ended; False if it already had (a replayed callback).

        The first end gives the starting client's share back, if that client ends it.
        """
        now = self._clock()
        while self._ended and next(iter(self._ended.values())) <= now:
            self._ended.popitem(last=False)
        digest = hashlib.sha256(state.encode()).hexdigest()
        if digest in self._ended:
            return False
        self._ended[digest] = now + self.ttl_seconds
        while len(self._ended) > self.max_pending:
            self._ended.popitem(last=False)
        if client == started_by:
            self._clients.give_back(client)
            self._total.give_back(1, now)
        return True
