"""Worker-side ServiceAccount token source: read the projected token, or project it.

In a pod the kubelet requests a token for the pod's ServiceAccount (TokenRequest, audience
``vault``), writes it to a file and replaces it before it expires; the worker only reads
the file (:func:`read_token`). Without a cluster, :class:`TokenProjector` does the
kubelet's part against the local identity endpoint, through the official ``kubernetes``
client, so the code path that obtains tokens is the one a real apiserver would serve.
"""

from __future__ import annotations

import asyncio
import random
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final

import structlog

from orders.contract import identities
from orders.files import write_private

if TYPE_CHECKING:
    from orders.contract.identities import Identity
    from orders.settings import WorkerSettings

log = structlog.get_logger("orders.security.k8s_token")

REFRESH_FRACTION: Final = 0.8
"""Like the kubelet: replace a token once 80 % of its lifetime has passed..."""
MAX_REFRESH_INTERVAL: Final = timedelta(hours=24)
"""...or once it is a day old, whichever comes first."""
DEFAULT_EXPIRATION_SECONDS: Final = 3600


class TokenFileError(RuntimeError):
    """The ServiceAccount token file is missing, unreadable or empty."""


def read_token(path: Path | str) -> str:
    """Read a projected ServiceAccount token (or any credential file).

    Args:
        path: Token file.

    Returns:
        The token without surrounding whitespace.

    Raises:
        TokenFileError: If the file does not exist, cannot be read or is empty.
    """
    p = Path(path)
    try:
        token = p.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise TokenFileError(
            f"token file {p} does not exist: is the token projected (kubelet volume, or "
            "the dev stack's identity endpoint and TokenProjector) for this identity?"
        ) from None
    except OSError as exc:
        raise TokenFileError(f"cannot read token file {p}: {exc.strerror}") from None
    if not token:
        raise TokenFileError(f"token file {p} is empty")
    return token


def write_token(path: Path, token: str) -> None:
    """Replace ``path`` with ``token`` atomically, readable by the owner only.

    Readers see either the old or the new token, never a partial one, as with the
    kubelet's atomic writer for projected volumes.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(path, token)


@dataclass(frozen=True)
class ProjectedToken:
    """Metadata of the token last written (never the token itself).

    Attributes:
        path: Token file.
        issued_at: When it was requested (local clock).
        expires_at: Expiry reported by the TokenRequest.
    """

    path: Path
    issued_at: datetime
    expires_at: datetime

    @property
    def lifetime(self) -> timedelta:
        """Validity the issuer granted."""
        return self.expires_at - self.issued_at

    @property
    def refresh_at(self) -> datetime:
        """When to request the next token (kubelet's rule)."""
        return self.issued_at + min(self.lifetime * REFRESH_FRACTION, MAX_REFRESH_INTERVAL)


class TokenProjector:
    """Requests this worker's ServiceAccount token and keeps the token file fresh.

    Args:
        host: API server URL (the identity endpoint's issuer, ``https://127.0.0.1:<port>``).
        ca_file: CA certificate that signed the API server's TLS certificate.
        client_token_file: Bootstrap credential allowed to request tokens for
            ``service_account`` (read on every request, so it can be rotated).
        service_account: ServiceAccount to request tokens for.
        token_file: Where to write the token.
        namespace: ServiceAccount namespace.
        audience: Token audience (Vault's role checks it).
        expiration_seconds: Requested lifetime; the server may grant less.
        retry_initial_seconds: First retry delay after a failed request.
        retry_max_seconds: Longest retry delay.
        request_timeout: Connect and read timeout of one request, in seconds.
    """

    def __init__(
        self,
        *,
        host: str,
        ca_file: Path,
        client_token_file: Path,
        service_account: str,
        token_file: Path,
        namespace: str = identities.K8S_NAMESPACE,
        audience: str = identities.VAULT_AUDIENCE,
        expiration_seconds: int = DEFAULT_EXPIRATION_SECONDS,
        retry_initial_seconds: float = 0.5,
        retry_max_seconds: float = 30.0,
        request_timeout: float = 10.0,
    ) -> None:
        if expiration_seconds <= 0:
            raise ValueError("expiration_seconds must be positive")
        if not 0 < retry_initial_seconds <= retry_max_seconds:
            raise ValueError("need 0 < retry_initial_seconds <= retry_max_seconds")
        self.host = host.rstrip("/")
        self.ca_file = Path(ca_file)
        self.client_token_file = Path(client_token_file)
        self.service_account = service_account
        self.token_file = Path(token_file)
        self.namespace = namespace
        self.audience = audience
        self.expiration_seconds = expiration_seconds
        self.retry_initial_seconds = retry_initial_seconds
        self.retry_max_seconds = retry_max_seconds
        self.request_timeout = request_timeout
        self._last: ProjectedToken | None = None

    @classmethod
    def from_settings(cls, settings: WorkerSettings, identity: Identity) -> TokenProjector:
        """Build the projector a worker uses when ``settings.k8s_host`` is set.

        Raises:
            ValueError: If the host, CA file or bootstrap credential file is not configured.
        """
        if not settings.k8s_host or not settings.k8s_ca_file or not settings.k8s_client_token_file:
            raise ValueError(
                "token projection needs ORDERS_K8S_HOST, ORDERS_K8S_CA_FILE and "
                "ORDERS_K8S_CLIENT_TOKEN_FILE"
            )
        return cls(
            host=settings.k8s_host,
            ca_file=settings.k8s_ca_file,
            client_token_file=settings.k8s_client_token_file,
            service_account=identity.service_account,
            token_file=settings.token_file,
            expiration_seconds=settings.token_seconds,
        )

    @property
    def last(self) -> ProjectedToken | None:
        """The token most recently written by this projector, if any."""
        return self._last

    def refresh(self) -> ProjectedToken:
        """Request a new token and write it to the token file (blocking).

        Returns:
            Metadata of the written token.

        Raises:
            TokenFileError: If the bootstrap credential file is missing or empty.
            kubernetes.client.exceptions.ApiException: If the API server refuses.
            urllib3.exceptions.HTTPError: On connection or TLS failures.
            RuntimeError: If the response carries no token or expiry.
        """
        # Imported here: only the projector (the local stack's kubelet) needs the client, an
        # extra (`kube`); a pod's worker reads its token file and never loads it.
        from kubernetes import client as k8s

        config = k8s.Configuration(
            host=self.host,
            ssl_ca_cert=str(self.ca_file),
            api_key={"authorization": read_token(self.client_token_file)},
            api_key_prefix={"authorization": "Bearer"},
        )
        body = k8s.AuthenticationV1TokenRequest(
            api_version="authentication.k8s.io/v1",
            kind="TokenRequest",
            spec=k8s.V1TokenRequestSpec(
                audiences=[self.audience], expiration_seconds=self.expiration_seconds
            ),
        )
        issued_at = datetime.now(UTC)
        # A fresh client per request: refreshes are rare, and nothing (connection pool,
        # credential) outlives the call.
        with k8s.ApiClient(config) as api_client:
            response = k8s.CoreV1Api(api_client).create_namespaced_service_account_token(
                self.service_account,
                self.namespace,
                body,
                _request_timeout=(self.request_timeout, self.request_timeout),
            )
        status = response.status
        if status is None or not status.token or status.expiration_timestamp is None:
            raise RuntimeError("TokenRequest response has no token or expirationTimestamp")
        expires_at = status.expiration_timestamp
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        write_token(self.token_file, status.token)
        self._last = ProjectedToken(self.token_file, issued_at, expires_at)
        log.info(
            "k8s_token.refreshed",
            service_account=self.service_account,
            audience=self.audience,
            expires_at=expires_at.isoformat(),
            path=str(self.token_file),
        )
        return self._last

    def _delay_until_refresh(self) -> float:
        if self._last is None:
            return 0.0
        return max(0.0, (self._last.refresh_at - datetime.now(UTC)).total_seconds())

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the token file fresh until ``stop`` is set.

        Refreshes immediately unless :meth:`refresh` already ran, then at 80 % of each
        token's lifetime. Failures are logged and retried with jittered exponential
        backoff; the previous token stays in place meanwhile.

        Args:
            stop: Set to end the loop.
        """
        failures = 0
        delay = self._delay_until_refresh()
        while not await _wait(stop, delay):
            try:
                await asyncio.to_thread(self.refresh)
            except Exception as exc:
                failures += 1
                ceiling = min(
                    self.retry_max_seconds, self.retry_initial_seconds * 2 ** (failures - 1)
                )
                # Jitter keeps many workers that failed together from retrying together.
                delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311
                log.warning(
                    "k8s_token.refresh_failed",
                    service_account=self.service_account,
                    error=_describe(exc),
                    failures=failures,
                    retry_in=round(delay, 2),
                    current_expires_at=self._last.expires_at.isoformat() if self._last else None,
                )
            else:
                failures = 0
                delay = self._delay_until_refresh()


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; True as soon as ``stop`` is set."""
    if stop.is_set():
        return True
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


def _describe(exc: Exception) -> str:
    """A loggable description of a refresh failure.

    An ApiException's string form includes response headers and body; status and reason
    say enough and cannot carry a credential.
    """
    # Only a projector raises ApiException, and it has loaded the client by then; this
    # module itself must load without it.
    k8s = sys.modules.get("kubernetes.client")
    if k8s is not None and isinstance(exc, k8s.ApiException):
        return f"ApiException {exc.status} {exc.reason}"
    return f"{type(exc).__name__}: {exc}"
