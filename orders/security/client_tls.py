"""An identity's Temporal client certificate, from Vault PKI, renewed before it expires.

The certificate is issued with the identity's own Vault token (``pki_int/issue/<identity>``;
its policy allows no other role), kept in memory only, and re-issued at ~2/3 of its
lifetime, in the spirit of :class:`orders.security.vault.VaultSession`'s generations.
Listeners get the new :class:`TLSConfig`; a worker swaps its client (``worker.client =``)
to a connection made with it, so in-flight tasks finish on the old connection while new
polls use the new one. Vault trouble never stops the renewer: it retries with backoff
while the current certificate is still valid.

Where the server authorizes calls, the identity also presents its own JWT
(:class:`TemporalToken`, from OpenBao's identity-token engine, :mod:`orders.vault.tokens`),
renewed the same way; listeners set it on the live client (``client.api_key = ...``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, TypeVar

from temporalio.service import TLSConfig

from orders import logging as olog
from orders import temporal
from orders.contract.identities import Identity
from orders.files import write_private
from orders.observability import metrics, names
from orders.security import certs
from orders.security.vault import VaultSession
from orders.settings import LeaseTiming, WorkerSettings
from orders.vault.tokens import token_path

log = olog.get(__name__)

T = TypeVar("T")
L = TypeVar("L")


class _Renewed(Generic[T, L]):
    """Something issued by Vault to one identity, re-issued at ~2/3 of its lifetime.

    Subclasses say how to obtain it (:meth:`_obtain`, returning its lifetime in seconds)
    and what listeners receive (:meth:`_announce`); retries and renewal timing live here.
    """

    EVENT = ""
    """Log event prefix (``<prefix>.retry``, ``<prefix>.renew_failed``)."""
    CREDENTIAL = ""
    """Its ``credential`` label on the metrics (:data:`orders.observability.names.CREDENTIALS`)."""

    def __init__(
        self, identity: Identity, session: VaultSession, timing: LeaseTiming | None = None
    ) -> None:
        self.identity = identity
        self.session = session
        self.timing = timing or LeaseTiming()
        self._current: T | None = None
        self._renew_at = 0.0
        self._listeners: list[Callable[[L], Awaitable[None]]] = []
        self.renewals = 0

    @property
    def current(self) -> T:
        """What new calls use."""
        if self._current is None:
            raise RuntimeError(f"{self.identity.name}: not issued yet ({self.EVENT})")
        return self._current

    def on_renew(self, listener: Callable[[L], Awaitable[None]]) -> None:
        """Call ``listener`` after every renewal."""
        self._listeners.append(listener)

    async def _obtain(self) -> float:
        raise NotImplementedError

    def _announce(self) -> L:
        raise NotImplementedError

    async def _refresh(self, event: str = names.CREDENTIAL_ISSUED) -> None:
        lifetime = await self._obtain()
        metrics.client_credential(self.CREDENTIAL, event, lifetime)
        self._renew_at = time.monotonic() + max(1.0, lifetime * self.timing.renew_fraction)

    async def start(self) -> None:
        """Obtain the first one, retrying until Vault answers."""
        delay = self.timing.retry_initial_seconds
        while True:
            try:
                await self._refresh()
                return
            except Exception as exc:
                log.warning(f"{self.EVENT}.retry", error=type(exc).__name__, retry_in=delay)
                metrics.client_credential(self.CREDENTIAL, names.CREDENTIAL_FAILED)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.timing.retry_max_seconds)

    async def run(self, stop: asyncio.Event) -> None:
        """Renew at ~2/3 of each one's lifetime until ``stop``; never raises."""
        delay = self.timing.retry_initial_seconds
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, self._renew_at - time.monotonic()))
            if stop.is_set():
                return
            try:
                await self._refresh(names.CREDENTIAL_RENEWED)
                self.renewals += 1
                delay = self.timing.retry_initial_seconds
                announced = self._announce()
                for listener in self._listeners:
                    await listener(announced)
            except Exception as exc:  # Vault down or a reconnect failed: retry soon.
                log.warning(f"{self.EVENT}.renew_failed", error=type(exc).__name__)
                metrics.client_credential(self.CREDENTIAL, names.CREDENTIAL_FAILED)
                self._renew_at = time.monotonic() + delay
                delay = min(delay * 2, self.timing.retry_max_seconds)


class ClientCertificates(_Renewed[certs.IssuedCert, TLSConfig]):
    """Keeps one identity's client certificate for Temporal fresh.

    Args:
        identity: Who the certificate names (CN and URI SAN).
        session: The identity's started Vault session (its token issues the certificate).
        ca_file: The Vault root CA the frontend's certificate must chain to.
        server_name: The name the frontend's certificate must carry.
        timing: Renewal fraction and retry backoff.
        publish: File to write each certificate to (never the key), for monitoring.
    """

    EVENT = "tls.client_cert"
    CREDENTIAL = names.CLIENT_CERT

    def __init__(
        self,
        identity: Identity,
        session: VaultSession,
        ca_file: Path,
        server_name: str,
        timing: LeaseTiming | None = None,
        publish: Path | None = None,
    ) -> None:
        super().__init__(identity, session, timing)
        self.publish = publish
        self.ca_pem = ca_file.read_bytes()
        self.server_name = server_name

    def tls_config(self) -> TLSConfig:
        """Client certificate (with its chain), key, the Vault root CA and the server name."""
        return temporal.tls_config(self.ca_pem, self.server_name, self.current)

    def _announce(self) -> TLSConfig:
        return self.tls_config()

    async def _obtain(self) -> float:
        cert = await asyncio.to_thread(certs.issue_client, self.session.client, self.identity)
        lifetime = (cert.not_after - datetime.now(UTC)).total_seconds()
        self._current = cert
        if self.publish is not None:
            await asyncio.to_thread(write_private, self.publish, cert.certificate)
        log.info(
            "tls.client_cert.issued",
            serial=cert.serial,
            not_after=cert.not_after.isoformat(),
            seconds=round(lifetime),
        )
        return lifetime


async def for_settings(
    identity: Identity, session: VaultSession, settings: WorkerSettings
) -> ClientCertificates | None:
    """Started client certificates when ``settings`` ask for TLS to Temporal, else None."""
    if settings.temporal_tls_ca_file is None:
        return None
    source = ClientCertificates(
        identity,
        session,
        settings.temporal_tls_ca_file,
        settings.temporal_tls_server_name,
        publish=settings.client_cert_file,
    )
    await source.start()
    return source


class TemporalToken(_Renewed[str, str]):
    """Keeps one identity's Temporal JWT fresh (``permissions`` from the contract).

    Read with the identity's own Vault token from ``identity/oidc/token/<identity>``, the
    only token path its policy allows; kept in memory only, never logged.

    Args:
        identity: Whose token (an identity with Temporal permissions).
        session: The identity's started Vault session.
        timing: Renewal fraction and retry backoff.
    """

    EVENT = "temporal.token"
    CREDENTIAL = names.TEMPORAL_TOKEN

    def _announce(self) -> str:
        return self.current

    async def _obtain(self) -> float:
        found = await asyncio.to_thread(self.session.client.read, token_path(self.identity))
        data = (found or {}).get("data") or {}
        if not data.get("token"):
            raise RuntimeError(f"OpenBao returned no Temporal token for {self.identity.name}")
        lifetime = float(data["ttl"])
        self._current = str(data["token"])
        log.info("temporal.token.issued", seconds=round(lifetime))
        return lifetime


async def token_for_settings(
    identity: Identity, session: VaultSession, settings: WorkerSettings
) -> TemporalToken | None:
    """A started Temporal token when ``settings`` ask for one, else None."""
    if not settings.temporal_token:
        return None
    token = TemporalToken(identity, session)
    await token.start()
    return token
