"""A worker's Vault session: Kubernetes login, dynamic Postgres credential, renewal, rotation.

One *generation* is a Vault token (from ``auth/kubernetes/login`` with the projected
ServiceAccount token) plus, for database identities, one lease on
``database/creds/<identity>`` created under that token. The session

* renews token and lease at ~2/3 of their TTL;
* replaces the whole generation as soon as Vault stops extending either one fully (the
  max TTL is near) or either is lost (revoked, expired while Vault was down): a fresh
  login, a fresh credential, listeners told (the engine swaps its pool), and the old
  generation revoked after a grace period so in-flight activities finish on it;
* on close revokes its lease and its token, so the dynamic role is dropped at once.

hvac is a blocking client: every call runs in a thread so the worker's event loop (which
also polls Temporal) never blocks on Vault.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import hvac
import requests

from orders import logging as olog
from orders.contract.identities import Identity
from orders.observability import metrics, names
from orders.security.k8s_token import read_token
from orders.settings import LeaseTiming, WorkerSettings

log = olog.get(__name__)


class VaultUnavailableError(RuntimeError):
    """Vault could not be reached or refused; callers retry (never a failed order)."""


@dataclass(frozen=True, repr=False)
class DbCredential:
    """A Vault-issued Postgres login. ``repr`` omits the password."""

    username: str
    password: str
    lease_id: str

    def __repr__(self) -> str:
        return f"DbCredential(username={self.username!r})"


@dataclass
class _Lifetime:
    """A renewable thing's clock, in monotonic seconds."""

    ttl: float
    renewed_at: float = field(default_factory=time.monotonic)

    @property
    def deadline(self) -> float:
        return self.renewed_at + self.ttl

    def renew_due(self, fraction: float) -> float:
        return self.renewed_at + self.ttl * fraction


@dataclass
class Generation:
    """One login and what was obtained with it."""

    client: hvac.Client
    token: _Lifetime
    token_increment: int
    credential: DbCredential | None = None
    lease: _Lifetime | None = None
    lease_increment: int = 0
    number: int = 0


RotationListener = Callable[[DbCredential], Awaitable[None]]


class VaultSession:
    """Keeps one identity's Vault token and database credential alive.

    Args:
        identity: The identity this process runs as.
        settings: Worker settings (Vault address, token file, mounts).
        timing: Renewal/replacement fractions and backoff.
    """

    def __init__(
        self, identity: Identity, settings: WorkerSettings, timing: LeaseTiming | None = None
    ) -> None:
        self.identity = identity
        self.settings = settings
        self.timing = timing or LeaseTiming()
        self._gen: Generation | None = None
        self._listeners: list[RotationListener] = []
        self._retired: set[asyncio.Task[None]] = set()
        self._counter = 0
        self._wake = asyncio.Event()
        self._last_check = 0.0
        self.renewals = 0
        self.rotations = 0

    # --- public API -------------------------------------------------------------------

    def on_rotate(self, listener: RotationListener) -> None:
        """Call ``listener`` with the new credential after every replacement."""
        self._listeners.append(listener)

    @property
    def credential(self) -> DbCredential:
        """The credential new database connections must use."""
        if self._gen is None or self._gen.credential is None:
            raise VaultUnavailableError(f"{self.identity.name} has no database credential yet")
        return self._gen.credential

    @property
    def client(self) -> hvac.Client:
        """The hvac client of the current generation (authenticated)."""
        if self._gen is None:
            raise VaultUnavailableError(f"{self.identity.name} is not logged in to Vault")
        return self._gen.client

    def check_soon(self) -> None:
        """Renew token and lease now rather than when due (a user saw them refused).

        A refused credential (revoked under the worker, or expired during an outage) is
        then replaced within seconds instead of at the next scheduled renewal. Calls closer
        than two seconds apart are coalesced.
        """
        if time.monotonic() - self._last_check >= 2.0:
            self._last_check = time.monotonic()
            self._wake.set()

    async def token_valid(self) -> bool:
        """Whether Vault still knows the current token; if not, a replacement is started.

        Lets a caller refused with 403 tell "this token expired or was revoked" (retry once
        the session logs in again) from "this identity may not do that" (a real denial).
        """
        gen = self._gen
        if gen is None:
            return False
        try:
            await asyncio.to_thread(gen.client.auth.token.lookup_self)
            return True
        except hvac.exceptions.Forbidden:
            log.warning("vault.token.invalid", generation=gen.number)
            self.check_soon()
            return False
        except (hvac.exceptions.VaultError, requests.RequestException) as exc:
            # Cannot tell right now: the caller treats it as an outage and retries.
            log.warning("vault.unavailable", error=type(exc).__name__)
            metrics.unavailable(names.VAULT)
            return False

    async def start(self) -> None:
        """Log in (and obtain the first credential), retrying until Vault answers."""
        self._gen = await self._retry_until(self._new_generation, deadline=None)

    async def run(self, stop: asyncio.Event) -> None:
        """Renew and replace until ``stop`` is set. Never raises for Vault trouble."""
        while not stop.is_set():
            gen = self._gen
            assert gen is not None
            due = self._next_due(gen)
            await _wait_any((stop, self._wake), max(0.0, due - time.monotonic()))
            if stop.is_set():
                break
            forced = self._wake.is_set()
            self._wake.clear()
            try:
                await asyncio.to_thread(self._renew, gen, forced)
            except _ReplaceGenerationError as why:
                log.info("vault.generation.replace", reason=str(why), generation=gen.number)
                await self._replace(gen, stop)
            except Exception as exc:  # Vault down: keep trying until the deadline.
                _count_failure(exc)
                remaining = self._hard_deadline(gen) - time.monotonic()
                log.warning(
                    "vault.renew.retry", error=type(exc).__name__, seconds_left=round(remaining, 1)
                )
                if remaining <= 0:
                    await self._replace(gen, stop)
                else:
                    await _sleep_or_stop(stop, min(self.timing.retry_max_seconds, remaining / 4))

    async def close(self) -> None:
        """Revoke the current lease and token (drops the dynamic role) and retired ones."""
        for task in list(self._retired):
            task.cancel()
        gen, self._gen = self._gen, None
        if gen is not None:
            await asyncio.to_thread(self._revoke, gen)

    # --- generations ------------------------------------------------------------------

    def _login(self) -> tuple[hvac.Client, int]:
        jwt = read_token(self.settings.token_file)
        client = hvac.Client(
            url=self.settings.vault_addr, verify=self.settings.vault_verify, timeout=10
        )
        resp = client.auth.kubernetes.login(
            self.identity.vault_role, jwt, mount_point=self.settings.vault_k8s_mount
        )
        auth = resp["auth"]
        log.info(
            "vault.login",
            role=self.identity.vault_role,
            policies=auth.get("token_policies"),
            ttl=auth["lease_duration"],
        )
        return client, int(auth["lease_duration"])

    def _new_generation(self) -> Generation:
        client, token_ttl = self._login()
        self._counter += 1
        gen = Generation(
            client=client,
            token=_Lifetime(token_ttl),
            token_increment=token_ttl,
            number=self._counter,
        )
        if self.identity.has_db_role:
            resp = client.secrets.database.generate_credentials(
                self.identity.db_role, mount_point=self.settings.vault_db_mount
            )
            gen.credential = DbCredential(
                username=resp["data"]["username"],
                password=resp["data"]["password"],
                lease_id=resp["lease_id"],
            )
            gen.lease = _Lifetime(float(resp["lease_duration"]))
            gen.lease_increment = int(resp["lease_duration"])
            log.info(
                "db.credential.issued",
                db_user=gen.credential.username,
                ttl=resp["lease_duration"],
                generation=gen.number,
            )
        metrics.credential_event(names.CREDENTIAL_ISSUED)
        self._publish(gen)
        return gen

    def _publish(self, gen: Generation) -> None:
        """The generation in use and its time left, for the metrics."""
        metrics.credential_state(gen.number, self._hard_deadline(gen) - time.monotonic())

    def _next_due(self, gen: Generation) -> float:
        due = gen.token.renew_due(self.timing.renew_fraction)
        if gen.lease is not None:
            due = min(due, gen.lease.renew_due(self.timing.renew_fraction))
        return due

    def _hard_deadline(self, gen: Generation) -> float:
        deadline = gen.token.deadline
        if gen.lease is not None:
            deadline = min(deadline, gen.lease.deadline)
        return deadline

    def _renew(self, gen: Generation, force: bool = False) -> None:
        now = time.monotonic()
        if force or now >= gen.token.renew_due(self.timing.renew_fraction):
            try:
                resp = gen.client.auth.token.renew_self(increment=gen.token_increment)
            except hvac.exceptions.Forbidden as exc:
                raise _ReplaceGenerationError("token no longer valid") from exc
            ttl = int(resp["auth"]["lease_duration"])
            gen.token = _Lifetime(ttl)
            self.renewals += 1
            metrics.credential_event(names.CREDENTIAL_RENEWED)
            self._publish(gen)
            log.info("vault.token.renewed", ttl=ttl, generation=gen.number)
            if ttl < gen.token_increment:
                raise _ReplaceGenerationError("token max TTL reached")
        lease_due = gen.lease is not None and (
            force or now >= gen.lease.renew_due(self.timing.renew_fraction)
        )
        if lease_due and gen.credential is not None:
            try:
                resp = gen.client.adapter.put(
                    f"/v1/sys/leases/renew/{gen.credential.lease_id}",
                    json={"increment": gen.lease_increment},
                )
            except (hvac.exceptions.InvalidRequest, hvac.exceptions.Forbidden) as exc:
                raise _ReplaceGenerationError("lease no longer valid") from exc
            ttl = int(_json(resp)["lease_duration"])
            gen.lease = _Lifetime(ttl)
            self.renewals += 1
            metrics.credential_event(names.CREDENTIAL_RENEWED)
            self._publish(gen)
            log.info(
                "db.lease.renewed",
                db_user=gen.credential.username,
                ttl=ttl,
                generation=gen.number,
            )
            if ttl < gen.lease_increment:
                raise _ReplaceGenerationError("credential max TTL reached")

    async def _replace(self, old: Generation, stop: asyncio.Event) -> None:
        new = await self._retry_until(self._new_generation, deadline=None, stop=stop)
        if new is None:
            return
        self._gen = new
        self.rotations += 1
        metrics.credential_event(names.CREDENTIAL_REPLACED)
        if new.credential is not None:
            log.info(
                "db.credential.rotated",
                old_db_user=old.credential.username if old.credential else None,
                db_user=new.credential.username,
                generation=new.number,
            )
            for listener in self._listeners:
                await listener(new.credential)
        grace = min(self.timing.revoke_grace_seconds, self._hard_deadline(old) - time.monotonic())
        task = asyncio.create_task(self._revoke_later(old, max(0.0, grace)))
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)

    async def _revoke_later(self, gen: Generation, delay: float) -> None:
        await asyncio.sleep(delay)
        await asyncio.to_thread(self._revoke, gen)

    def _revoke(self, gen: Generation) -> None:
        try:
            if gen.credential is not None:
                gen.client.adapter.put(f"/v1/sys/leases/revoke/{gen.credential.lease_id}")
                log.info(
                    "db.credential.revoked", db_user=gen.credential.username, generation=gen.number
                )
            gen.client.auth.token.revoke_self()
            log.info("vault.token.revoked", generation=gen.number)
        except Exception as exc:
            # Expired or already revoked: Vault has cleaned up (or will at expiry).
            log.warning("vault.revoke.failed", error=type(exc).__name__, generation=gen.number)

    async def _retry_until(
        self,
        fn: Callable[[], Generation],
        deadline: float | None,
        stop: asyncio.Event | None = None,
    ) -> Any:
        delay = self.timing.retry_initial_seconds
        while True:
            try:
                return await asyncio.to_thread(fn)
            except (requests.RequestException, hvac.exceptions.VaultError, OSError) as exc:
                log.warning("vault.unavailable", error=type(exc).__name__, retry_in=delay)
                _count_failure(exc)
                if stop is not None and stop.is_set():
                    return None
                if deadline is not None and time.monotonic() + delay > deadline:
                    raise VaultUnavailableError("Vault did not answer in time") from exc
                if stop is not None:
                    await _sleep_or_stop(stop, delay)
                else:
                    await asyncio.sleep(delay)
                delay = min(delay * 2, self.timing.retry_max_seconds)


def _count_failure(exc: BaseException) -> None:
    """A failed login or renewal; an unreachable Vault counts as unavailable too."""
    metrics.credential_event(names.CREDENTIAL_FAILED)
    if isinstance(exc, (requests.RequestException, OSError)):
        metrics.unavailable(names.VAULT)


class _ReplaceGenerationError(Exception):
    """The current generation cannot be extended; a new login is needed."""


def _json(resp: Any) -> dict[str, Any]:
    data: dict[str, Any] = resp if isinstance(resp, dict) else resp.json()
    return data


async def _wait_any(events: tuple[asyncio.Event, ...], seconds: float) -> None:
    """Return when any of ``events`` is set or after ``seconds``."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
