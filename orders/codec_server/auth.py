"""Who is calling the codec server: JWT verification against a JWKS, permissions, sessions.

API clients send ``Authorization: Bearer <JWT>`` (an ID token from OpenBao's OIDC provider,
e.g. from ``orders login``); browsers hold the same ID token in a sealed session cookie
after the authorization code flow with PKCE (:mod:`orders.codec_server.browser`). Either way
the same verifier decides: RS256/ES256 only, signature by a key from the issuer's JWKS,
``iss``, ``aud``, ``exp``, ``iat`` and ``sub`` required and checked. Permissions come from
the ``permissions`` claim in Temporal's ``<namespace>:<role>`` format.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import httpx
import jwt

from orders import logging as olog
from orders.security.trust import httpx_verify

log = olog.get(__name__)

ALGORITHMS: Final = frozenset({"RS256", "ES256"})
KEY_TYPES: Final = {"RS256": "RSA", "ES256": "EC"}
MAX_TOKEN_CHARS: Final = 8192
VERIFIED_CACHE_SECONDS: Final = 60.0
"""How long a verified token is taken on its hash alone (never past its ``exp``): the
window in which a key withdrawn from the key set still passes tokens it already signed."""
VERIFIED_CACHE_ENTRIES: Final = 1024
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
        url: JWKS URL (the provider's ``jwks_uri``, from its discovery document).
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
        self,
        keys: KeySource,
        issuer: str,
        audience: str,
        leeway_seconds: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway_seconds = leeway_seconds
        self._clock = clock
        self._verified: dict[tuple[bytes, str], tuple[float, Principal]] = {}

    async def verify(self, token: str, audience: str | None = None) -> Principal:
        """Verify ``token`` and return who it names.

        A token verified once is taken again on its SHA-256 alone, for the same audience,
        until it expires (``exp`` plus the leeway, as the full check would) or for
        :data:`VERIFIED_CACHE_SECONDS`, whichever comes first: the front sees the same
        bearer on every call an identity makes (~30 per order). Only successes are kept;
        any other byte string (another signature, another claim) misses and is verified.

        Args:
            token: The JWT.
            audience: The ``aud`` required this time (default: the verifier's).

        Raises:
            InvalidTokenError: For any token that must not be trusted.
            KeysUnavailableError: When the issuer's keys cannot be fetched.
        """
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise InvalidTokenError("missing or oversized token")
        aud = audience or self.audience
        key = (hashlib.sha256(token.encode()).digest(), aud)
        now = self._clock()
        hit = self._verified.get(key)
        if hit is not None and now < hit[0]:
            return hit[1]
        principal = await self._verify(token, aud)
        if len(self._verified) >= VERIFIED_CACHE_ENTRIES:
            self._verified.clear()  # only valid tokens land here: a refill is cheap
        until = min(principal.expires_at + self.leeway_seconds, now + VERIFIED_CACHE_SECONDS)
        self._verified[key] = (until, principal)
        return principal

    async def _verify(self, token: str, audience: str) -> Principal:
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
                audience=audience,
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
