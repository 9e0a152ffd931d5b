"""Data keys of one Transit key, cached so Vault is asked rarely, not per payload.

Encryption uses the *current* data key until it has sealed ``max_uses`` values or is
``max_age`` seconds old; then a fresh one comes from Transit ``datakey`` (while Vault is
unreachable the current key stays in use, up to twice those limits, so an outage does not
stop a process that already holds a key). Decryption
unwraps a data key through Transit ``decrypt`` once and keeps it (LRU, by its wrapped
form). Keys this process generated are known already. At steady state a process calls
Vault about once per ``max_age`` per key — whatever the number of payloads.

A process that has no usable key when Vault is away (a worker restarted just before an
outage, resuming histories whose data keys it never unwrapped) waits up to ``outage_wait``
seconds for Vault before raising: raised inside a workflow activation, the error would fail
the workflow task, while waiting at worst lets it time out and be retried — the history
records an outage as what it is, a delay.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from orders import logging as olog
from orders.security.lru import Lru
from orders.security.transit import DataKey, TransitClient
from orders.security.vault import VaultUnavailableError

log = olog.get(__name__)
T = TypeVar("T")


class KeyRing:
    """Cached data keys wrapped by one Transit key.

    Args:
        transit: Transit client of this process's identity.
        key_name: The Transit key wrapping the data keys.
        max_uses: Values encrypted under one data key before a new one is fetched.
        max_age: Seconds a data key is used for encryption.
        cache_size: Unwrapped data keys kept.
        outage_wait: Seconds to keep retrying Vault when a key is needed and none is usable.
    """

    def __init__(
        self,
        transit: TransitClient,
        key_name: str,
        *,
        max_uses: int = 10_000,
        max_age: float = 300.0,
        cache_size: int = 1024,
        outage_wait: float = 0.0,
    ) -> None:
        self.transit = transit
        self.key_name = key_name
        self.max_uses = max_uses
        self.max_age = max_age
        self.cache_size = cache_size
        self.outage_wait = outage_wait
        self._current: DataKey | None = None
        self._created = 0.0
        self._uses = 0
        self._lock = asyncio.Lock()
        self._unwrapped: Lru[str, bytes] = Lru(cache_size)
        self.new_keys = 0
        self.unwraps = 0

    async def current(self) -> DataKey:
        """The data key to encrypt the next value with (counts one use)."""
        async with self._lock:
            fresh = (
                self._current is not None
                and self._uses < self.max_uses
                and time.monotonic() - self._created < self.max_age
            )
            if not fresh:
                try:
                    if self._usable_in_outage():
                        self._current = await self.transit.datakey(self.key_name)
                    else:
                        self._current = await self._waiting(lambda t: t.datakey(self.key_name))
                except VaultUnavailableError:
                    if not self._usable_in_outage():
                        raise
                    log.warning("codec.datakey.kept", key=self.key_name, uses=self._uses)
                else:
                    self._created, self._uses = time.monotonic(), 0
                    self.new_keys += 1
                    self._unwrapped.put(self._current.wrapped, self._current.plaintext)
            self._uses += 1
            assert self._current is not None
            return self._current

    def _usable_in_outage(self) -> bool:
        return (
            self._current is not None
            and self._uses < 2 * self.max_uses
            and time.monotonic() - self._created < 2 * self.max_age
        )

    async def unwrap(self, wrapped: str) -> bytes:
        """The plaintext of a wrapped data key (asks Transit only the first time)."""
        cached = self._unwrapped.get(wrapped)
        if cached is not None:
            return cached
        plaintext = await self._waiting(lambda t: t.decrypt(self.key_name, wrapped))
        self.unwraps += 1
        self._unwrapped.put(wrapped, plaintext)
        return plaintext

    def holds(self, wrapped: str) -> bool:
        """Whether the plaintext of ``wrapped`` is cached (unwrapping it costs Vault nothing)."""
        return self._unwrapped.holds(wrapped)

    async def _waiting(self, call: Callable[[TransitClient], Awaitable[T]]) -> T:
        """``call(transit)``, retried with backoff while Vault is away, for ``outage_wait`` s."""
        deadline = time.monotonic() + self.outage_wait
        delay = 0.2
        while True:
            try:
                return await call(self.transit)
            except VaultUnavailableError as exc:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                log.warning("codec.vault.waiting", key=self.key_name, error=str(exc))
                await asyncio.sleep(min(delay, left))
                delay = min(2 * delay, 2.0)
