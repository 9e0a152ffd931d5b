"""Who is calling the codec server: JWT verification against a JWKS, permissions, sessions.

API clients send ``Authorization: Bearer <JWT>`` (an ID token from OpenBao's OIDC provider,
e.g. from ``orders login``); browsers get a server-side session (the cookie holds only a
random id) after the authorization code flow with PKCE against OpenBao. Either way
the same verifier decides: RS256/ES256 only, signature by a key from the issuer's JWKS,
``iss``, ``aud``, ``exp``, ``iat`` and ``sub`` required and checked. Permissions come from
the ``permissions`` claim in Temporal's ``<namespace>:<role>`` format.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import httpx
import jwt

from orders import logging as olog
from orders.oidc import AuthRequest
from orders.security.trust import httpx_verify

log = olog.get(__name__)

ALGORITHMS: Final = frozenset({"RS256", "ES256"})
KEY_TYPES: Final = {"RS256": "RSA", "ES256": "EC"}
MAX_TOKEN_CHARS: Final = 8192
READ_ROLES: Final = frozenset({"read", "write", "admin"})
WRITE_ROLES: Final = frozenset({"write", "admin"})
SYSTEM_SCOPE: Final = "system"


class InvalidTokenError(Exception):
    """The token is missing, malformed, expired, or not signed by the trusted issuer (401)."""


class KeysUnavailableError(Exception):
    """The JWKS could not be fetched and no cached key fits (503, not the caller's fault)."""


class KeySource(Protocol):
    """Where verification keys come from."""

    async def key(self, kid: str) -> jwt.PyJWK:
        """The key with id ``kid`` (raises InvalidTokenError if the issuer has none)."""
        ...

    async def aclose(self) -> None:
        """Release resources."""
        ...


class StaticKeys:
    """A fixed key set (tests, or an issuer whose keys are distributed out of band)."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self._keys = _parse_jwks(jwks)

    async def key(self, kid: str) -> jwt.PyJWK:
        """The key with id ``kid``."""
        try:
            return self._keys[kid]
        except KeyError:
            raise InvalidTokenError("unknown signing key") from None

    async def aclose(self) -> None:
        """Nothing to release."""


def _parse_jwks(jwks: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    keys: dict[str, jwt.PyJWK] = {}
    for raw in jwks.get("keys", []):
        if not isinstance(raw, dict) or not isinstance(raw.get("kid"), str):
            continue
        if raw.get("use", "sig") != "sig" or raw.get("kty") not in ("RSA", "EC"):
            continue
        try:
            keys[raw["kid"]] = jwt.PyJWK(raw)
        except jwt.PyJWTError:
            log.warning("jwks.key_skipped", kid=raw["kid"])
    return keys


class JwksCache:
    """Keys from a JWKS URL, cached; refreshed when stale or when an unknown ``kid`` shows up.

    Unknown kids trigger at most one fetch per ``min_refresh_seconds``, so a flood of
    garbage tokens cannot turn into a flood of requests to the issuer. When the issuer is
    unreachable, cached keys keep working.

    Args:
        url: JWKS URL (e.g. ``<openbao>/v1/identity/oidc/.well-known/keys``).
        verify: TLS verification for the fetch.
        ttl_seconds: Refresh keys this often even when every kid is known.
        min_refresh_seconds: Least time between two fetches.
        timeout: Fetch timeout.
    """

    def __init__(
        self,
        url: str,
        *,
        verify: str | bool = True,
        ttl_seconds: float = 300.0,
        min_refresh_seconds: float = 5.0,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.ttl_seconds = ttl_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self._http = httpx.AsyncClient(verify=httpx_verify(verify), timeout=timeout)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    async def _refresh(self) -> None:
        self.fetches += 1
        self._fetched_at = time.monotonic()
        try:
            resp = await self._http.get(self.url)
            resp.raise_for_status()
            keys = _parse_jwks(resp.json())
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("jwks.fetch_failed", url=self.url, error=type(exc).__name__)
            if not self._keys:
                raise KeysUnavailableError("the issuer's keys could not be fetched") from None
            return
        log.info("jwks.fetched", url=self.url, kids=sorted(keys))
        self._keys = keys

    async def key(self, kid: str) -> jwt.PyJWK:
        """The key with id ``kid``, fetching the JWKS when needed."""
        async with self._lock:
            now = time.monotonic()
            age = None if self._fetched_at is None else now - self._fetched_at
            stale = age is None or age >= self.ttl_seconds
            may_retry = age is None or age >= self.min_refresh_seconds
            if stale or (kid not in self._keys and may_retry):
                await self._refresh()
            try:
                return self._keys[kid]
            except KeyError:
                raise InvalidTokenError("unknown signing key") from None


Permission = tuple[str, str]


def parse_permissions(value: object) -> frozenset[Permission]:
    """``(namespace, role)`` pairs from a ``permissions`` claim; other entries are ignored.

    OpenBao's claim also lists people-group names (no colon); like Temporal's default claim
    mapper, anything not ``<namespace>:<role>`` is skipped.
    """
    if not isinstance(value, list):
        return frozenset()
    out: set[Permission] = set()
    for item in value:
        if not isinstance(item, str) or item.count(":") != 1:
            continue
        namespace, role = item.split(":")
        if namespace and role:
            out.add((namespace, role.lower()))
    return frozenset(out)


@dataclass(frozen=True)
class Principal:
    """A verified caller.

    Attributes:
        subject: ``sub`` (OpenBao: the entity id).
        username: ``username`` claim, or the subject.
        permissions: ``(namespace, role)`` pairs.
        expires_at: ``exp`` (epoch seconds).
        nonce: ``nonce`` (ID tokens from a browser login; checked against the request).
    """

    subject: str
    username: str
    permissions: frozenset[Permission]
    expires_at: int
    nonce: str | None = None

    def _has(self, namespace: str, roles: frozenset[str]) -> bool:
        # A system-scope role applies to every namespace, as in Temporal's authorizer.
        return any(
            ns in (namespace, SYSTEM_SCOPE) and role in roles for ns, role in self.permissions
        )

    def can_read(self, namespace: str) -> bool:
        """Read permission on ``namespace`` (``write`` and ``admin`` imply it)."""
        return self._has(namespace, READ_ROLES)

    def can_write(self, namespace: str) -> bool:
        """Write permission on ``namespace`` (``admin`` implies it)."""
        return self._has(namespace, WRITE_ROLES)


class TokenVerifier:
    """Verifies JWTs from one issuer for one audience.

    Args:
        keys: Verification keys (normally a :class:`JwksCache`).
        issuer: Required ``iss``.
        audience: Required ``aud`` (the codec server's client id); :meth:`verify` may ask
            for another one per call.
        leeway_seconds: Clock skew tolerated on ``exp``/``iat``/``nbf``.
    """

    def __init__(
        self, keys: KeySource, issuer: str, audience: str, leeway_seconds: float = 2.0
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway_seconds = leeway_seconds

    async def verify(self, token: str, audience: str | None = None) -> Principal:
        """Verify ``token`` and return who it names.

        Args:
            token: The JWT.
            audience: The ``aud`` required this time (default: the verifier's).

        Raises:
            InvalidTokenError: For any token that must not be trusted.
            KeysUnavailableError: When the issuer's keys cannot be fetched.
        """
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise InvalidTokenError("missing or oversized token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidTokenError("malformed token") from None
        alg, kid = header.get("alg"), header.get("kid")
        # Only asymmetric algorithms: "none" and HMAC (keyed with a public key) are refused.
        if alg not in ALGORITHMS or not isinstance(kid, str):
            raise InvalidTokenError("unsupported algorithm or missing key id")
        key = await self.keys.key(kid)
        if key.key_type != KEY_TYPES[alg] or key.algorithm_name not in (None, alg):
            raise InvalidTokenError("algorithm does not match the signing key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=audience or self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidTokenError("token expired") from None
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(f"token rejected: {type(exc).__name__}") from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise InvalidTokenError("token has no subject")
        username = claims.get("username")
        return Principal(
            subject=subject,
            username=username if isinstance(username, str) and username else subject,
            permissions=parse_permissions(claims.get("permissions")),
            expires_at=int(claims["exp"]),
            nonce=claims.get("nonce") if isinstance(claims.get("nonce"), str) else None,
        )


@dataclass
class _Session:
    token: str
    expires_at: float


class SessionStore:
    """Browser sessions kept server-side; the cookie carries only a random id.

    Only a hash of the id is kept, so the store's memory does not hold usable cookies. A
    session holds the person's verified JWT and ends when the JWT expires; every request
    re-verifies it, so key rotation and expiry apply to browsers exactly as to API clients.

    Args:
        max_sessions: Oldest sessions are dropped beyond this.
    """

    def __init__(self, max_sessions: int = 10_000) -> None:
        self.max_sessions = max_sessions
        self._sessions: dict[str, _Session] = {}

    @staticmethod
    def _digest(session_id: str) -> str:
        return hashlib.sha256(session_id.encode()).hexdigest()

    def create(self, token: str, expires_at: float) -> str:
        """Store ``token`` until ``expires_at`` (epoch seconds); returns the cookie value."""
        self._prune()
        while len(self._sessions) >= self.max_sessions:
            self._sessions.pop(next(iter(self._sessions)))
        session_id = secrets.token_urlsafe(32)
        self._sessions[self._digest(session_id)] = _Session(token, expires_at)
        return session_id

    def token(self, session_id: str) -> str | None:
        """The JWT of a live session, or None."""
        session = self._sessions.get(self._digest(session_id))
        if session is None:
            return None
        if session.expires_at <= time.time():
            self._sessions.pop(self._digest(session_id), None)
            return None
        return session.token

    def delete(self, session_id: str) -> None:
        """End a session (logout)."""
        self._sessions.pop(self._digest(session_id), None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _prune(self) -> None:
        now = time.time()
        for digest in [d for d, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[digest]


class TooManyLoginsError(Exception):
    """No room for another login in progress (429): the client's share, or the server's.

    Attributes:
        limit: The bound reached (its setting's name), for the answer.
        maximum: Its value.
        retry_after: Seconds until the oldest login in the way expires.
    """

    def __init__(self, limit: str, maximum: int, retry_after: float) -> None:
        super().__init__(f"too many sign-ins in progress ({limit} = {maximum})")
        self.limit = limit
        self.maximum = maximum
        self.retry_after = retry_after


@dataclass
class _Pending:
    request: AuthRequest
    binding: str
    next_url: str | None
    expires_at: float
    client: str


class PendingLogins:
    """Authorization requests in flight, by ``state``, each bound to one browser.

    The browser holds a random binding value in a short-lived cookie; the callback is
    accepted only with the state *and* that cookie (so a code delivered to someone else's
    browser is refused: no login CSRF), and only once.

    Nothing is ever evicted before it expires: a client (address) holds at most
    ``max_per_client`` logins in progress and is refused beyond that, so a flood from one
    address cannot push out anyone else's login; ``max_pending`` bounds the total the same
    way. A browser that starts again (its binding cookie still names a login in progress)
    replaces its own earlier login instead of adding one.

    Args:
        ttl_seconds: How long a person has to log in at OpenBao.
        max_pending: Logins in progress, in all.
        max_per_client: Logins in progress per client address.
        clock: Monotonic clock (tests pass their own).
    """

    def __init__(
        self,
        ttl_seconds: float = 600.0,
        max_pending: int = 10_000,
        max_per_client: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_pending = max_pending
        self.max_per_client = max_per_client
        self._clock = clock
        # Insertion order is expiry order (one TTL for all): expired ones leave from the front.
        self._pending: dict[str, _Pending] = {}
        self._per_client: dict[str, int] = {}
        self._by_binding: dict[str, str] = {}

    @staticmethod
    def _digest(binding: str) -> str:
        return hashlib.sha256(binding.encode()).hexdigest()

    def _drop(self, state: str) -> _Pending | None:
        pending = self._pending.pop(state, None)
        if pending is None:
            return None
        self._by_binding.pop(pending.binding, None)
        left = self._per_client[pending.client] - 1
        if left:
            self._per_client[pending.client] = left
        else:
            del self._per_client[pending.client]
        return pending

    def _prune(self, now: float) -> None:
        while self._pending:
            state, oldest = next(iter(self._pending.items()))
            if oldest.expires_at > now:
                return
            self._drop(state)

    def add(
        self,
        request: AuthRequest,
        next_url: str | None,
        client: str,
        previous_binding: str | None = None,
    ) -> str:
        """Remember ``request`` for ``client``; returns the binding value for the cookie.

        Args:
            request: The authorization request sent to the provider.
            next_url: Where to go after the login.
            client: Who is asking (the peer address): the unit of the per-client bound.
            previous_binding: The browser's binding cookie, if any: its own earlier login
                in progress is replaced.

        Raises:
            TooManyLoginsError: The client, or the server, has no room for another one.
        """
        now = self._clock()
        self._prune(now)
        if previous_binding:
            earlier = self._by_binding.get(self._digest(previous_binding))
            if earlier is not None and self._pending[earlier].client == client:
                self._drop(earlier)
        if self._per_client.get(client, 0) >= self.max_per_client:
            oldest = next(p for p in self._pending.values() if p.client == client)
            raise TooManyLoginsError(
                "max_pending_logins_per_client", self.max_per_client, oldest.expires_at - now
            )
        if len(self._pending) >= self.max_pending:
            oldest = next(iter(self._pending.values()))
            raise TooManyLoginsError(
                "max_pending_logins", self.max_pending, oldest.expires_at - now
            )
        binding = secrets.token_urlsafe(32)
        digest = self._digest(binding)
        self._pending[request.state] = _Pending(
            request, digest, next_url, now + self.ttl_seconds, client
        )
        self._by_binding[digest] = request.state
        self._per_client[client] = self._per_client.get(client, 0) + 1
        return binding

    def take(self, state: str, binding: str | None) -> tuple[AuthRequest, str | None] | None:
        """The request for ``state`` if ``binding`` matches and it is live; used up either way."""
        pending = self._drop(state)
        if pending is None or binding is None or pending.expires_at <= self._clock():
            return None
        if not secrets.compare_digest(self._digest(binding), pending.binding):
            return None
        return pending.request, pending.next_url

    def __len__(self) -> int:
        return len(self._pending)

    def for_client(self, client: str) -> int:
        """Logins in progress for ``client``."""
        return self._per_client.get(client, 0)
