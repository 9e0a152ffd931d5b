"""The codec server's ASGI app (Temporal remote codec protocol, plus a browser login).

``POST /decode`` (and ``POST /encode`` when enabled) take and return ``Payloads`` as proto3
JSON: ``{"payloads": [{"metadata": {k: base64}, "data": base64}]}``. Every request:

1. CORS: only the configured UI origin, with credentials; preflights answered here.
2. Authentication: ``Authorization: Bearer <JWT>`` (an ID token of OpenBao's provider), or
   (browsers) the session cookie set after the OIDC code flow with PKCE (``/login`` ->
   the provider's login page -> ``/oidc/callback``). Missing, invalid, expired or foreign
   tokens: 401. Login state and sessions are sealed cookies (:mod:`.cookies`): nothing is
   kept per process, so any replica answers any step and a restart signs nobody out.
3. Authorization: the ``X-Namespace`` namespace must be readable (``:read``, ``:write``,
   ``:admin``) for decode, writable for encode; otherwise 403.
4. Budget: one token from the principal's bucket (429 with ``Retry-After`` when empty).
5. Size: ``Content-Length`` above the limit, or a (chunked) body that grows past it, or more
   payloads than allowed: 413, naming the limit.
6. Budget again: one token per data key the request would make the server unwrap at
   OpenBao (each distinct wrapped key at most once per request).
7. Decode each payload with the unbound envelope codec; a payload whose recorded context
   names another namespace is returned still encrypted, so a permission on one namespace
   never opens another's payloads.
8. One audit line (``codec.audit``): who, namespace, payload count, outcome. Never payload
   contents, tokens or passwords.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Final, Protocol

from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.api.common.v1 import Payload, Payloads

from orders import logging as olog
from orders.codec_server.auth import (
    InvalidTokenError,
    KeysUnavailableError,
    Principal,
    TokenVerifier,
)
from orders.codec_server.browser import (
    COOKIE_PLAIN,
    COOKIE_SECURE,
    LOGIN_COOKIE_PLAIN,
    LOGIN_COOKIE_SECONDS,
    LOGIN_COOKIE_SECURE,
    BrowserLogin,
    ExchangeFn,
)
from orders.codec_server.cookies import CookieSealer
from orders.codec_server.limits import RateLimiter, retry_after
from orders.codec_server.logins import LoginLimiter
from orders.codec_server.settings import CodecServerSettings
from orders.oidc import Provider
from orders.security.codec import ENCODING, META_CONTEXT, META_ENCODING
from orders.security.erased_view import ErasedView
from orders.security.transit import TransitDeniedError
from orders.security.vault import VaultUnavailableError
from orders.vault.people import CODEC_CALLBACK_PATH

log = olog.get(__name__)

API_PATHS: Final = frozenset({"/decode", "/encode"})
JSON_PLAIN: Final = b"json/plain"
"""Encoding of a decoded JSON payload (the only kind with sealed fields inside)."""
ALLOWED_HEADERS: Final = "Content-Type, X-Namespace, Authorization"
PREFLIGHT_MAX_AGE: Final = "600"


class Refusal(Exception):
    """A request the server refuses: HTTP status, audit outcome and a short public reason.

    Args:
        status: HTTP status.
        outcome: Audit outcome.
        reason: Public reason (the body's ``error``).
        limit: The setting whose bound was reached (413, 429), named in the body.
        maximum: Its value.
        wait: Seconds before a retry can succeed (429: ``Retry-After``).
    """

    def __init__(
        self,
        status: int,
        outcome: str,
        reason: str,
        *,
        limit: str | None = None,
        maximum: float | None = None,
        wait: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.outcome = outcome
        self.reason = reason
        self.limit = limit
        self.maximum = maximum
        self.wait = wait

    def response(self) -> Response:
        """The JSON error response (no detail beyond the reason and the limit)."""
        headers = {"Cache-Control": "no-store"}
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="codec-server"'
        if self.wait is not None:
            headers["Retry-After"] = retry_after(self.wait)
        content: dict[str, Any] = {"error": self.reason}
        if self.limit is not None:
            content |= {"limit": self.limit, "max": self.maximum}
        return JSONResponse(content, status_code=self.status, headers=headers)


class ViewerCodec(Protocol):
    """What the server needs of its payload codec (the envelope codec implements it)."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt ``payloads``."""
        ...

    async def decode_each(self, payloads: Sequence[Payload]) -> list[Payload | None]:
        """Decrypt each payload on its own, ``None`` where refused; one unwrap per key."""
        ...

    def unwraps_needed(self, payloads: Sequence[Payload]) -> int:
        """Vault requests decoding ``payloads`` would cost at most."""
        ...


def recorded_namespace(payload: Payload) -> str | None:
    """Namespace in an envelope payload's recorded context (``temporal/v1|<ns>|<wf>``)."""
    parts = bytes(payload.metadata.get(META_CONTEXT, b"")).decode(errors="replace").split("|")
    return parts[1] if len(parts) == 3 and parts[0] == "temporal/v1" else None


class CorsMiddleware:
    """CORS for the one UI origin, with credentials; everything else gets no CORS headers.

    A refused preflight is answered 403 here, so the browser never sends the real request.
    """

    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer preflights; add CORS headers to responses for the allowed origin."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        allowed = origin is not None and origin.lower() in self.allowed
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            requested = headers["access-control-request-method"].upper()
            ok = allowed and scope["path"] in API_PATHS and requested == "POST"
            log.info("codec.preflight", origin=origin, path=scope["path"], allowed=ok)
            response: Response
            if ok:
                assert origin is not None
                cors = _cors_headers(origin)
                cors |= {
                    "Access-Control-Allow-Methods": "POST",
                    "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                    "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
                }
                if "access-control-request-private-network" in headers:
                    cors["Access-Control-Allow-Private-Network"] = "true"
                response = Response(status_code=204, headers=cors)
            else:
                response = JSONResponse(
                    {"error": "origin not allowed"}, status_code=403, headers={"Vary": "Origin"}
                )
            await response(scope, receive, send)
            return
        if not allowed:
            await self.app(scope, receive, send)
            return
        assert origin is not None
        extra = [(k.lower().encode(), v.encode()) for k, v in _cors_headers(origin).items()]

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _too_large(limit: int) -> Refusal:
    return Refusal(
        413, "too_large", f"body larger than {limit} bytes", limit="max_body_bytes", maximum=limit
    )


def _cors_headers(origin: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }


class CodecService(BrowserLogin):
    """Request handling, independent of how the codec and the verifier were built.

    Args:
        settings: What to serve and to whom.
        codec: The payload codec (the envelope codec of identity ``codec-server``).
        verifier: JWT verifier for the issuer and audience.
        exchange: Code -> ID token at the provider (None: no browser login).
        provider: The provider's endpoints, from its discovery document (browser login).
        sealer: Seals the cookies (None until derived at start: :attr:`sealer`).
        ready: Whether the server can decode now (its Vault session is up).
        erasures: Shows crypto-shredded sealed fields as ``erased`` (None: as they are).
    """

    def __init__(
        self,
        settings: CodecServerSettings,
        codec: ViewerCodec,
        verifier: TokenVerifier,
        *,
        exchange: ExchangeFn | None = None,
        provider: Provider | None = None,
        sealer: CookieSealer | None = None,
        ready: Callable[[], bool] = lambda: True,
        erasures: ErasedView | None = None,
    ) -> None:
        self.settings = settings
        self.codec = codec
        self.erasures = erasures
        self.verifier = verifier
        login = settings.browser_login and settings.client_id and provider is not None
        self.exchange = exchange if login else None
        self.provider = provider
        self.sealer = sealer
        self.ready = ready
        self.logins = LoginLimiter(
            LOGIN_COOKIE_SECONDS,
            settings.max_pending_logins,
            settings.max_pending_logins_per_client,
        )
        self.limiter = RateLimiter(
            settings.rate_per_second, settings.rate_burst, settings.rate_principals
        )
        secure = settings.secure_cookie
        self.cookie_name = COOKIE_SECURE if secure else COOKIE_PLAIN
        self.login_cookie_name = LOGIN_COOKIE_SECURE if secure else LOGIN_COOKIE_PLAIN

    # --- helpers ----------------------------------------------------------------------

    def _origin_ok(self, request: Request) -> bool:
        """Cookie-bearing browser requests must come from the UI or from this server."""
        origin = request.headers.get("origin")
        if origin is None:
            return True
        return origin.lower() in (self.settings.allowed_origins | {self.settings.own_origin})

    async def _authenticate(self, request: Request) -> tuple[Principal, str]:
        header = request.headers.get("authorization")
        try:
            if header is not None:
                scheme, _, token = header.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    raise Refusal(401, "unauthenticated", "bearer token required")
                return await self.verifier.verify(token.strip()), "bearer"
            stored = self._session_token(request)
            if stored is None:
                raise Refusal(401, "unauthenticated", "authentication required")
            return await self.verifier.verify(stored), "session"
        except InvalidTokenError:
            raise Refusal(401, "invalid_token", "invalid or expired token") from None
        except KeysUnavailableError:
            raise Refusal(503, "keys_unavailable", "cannot verify tokens now") from None

    async def _read_body(self, request: Request, limit: int) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise Refusal(400, "bad_request", "invalid Content-Length")
            if int(declared) > limit:
                raise _too_large(limit)
        body = bytearray()
        # Enforced while reading too: a chunked body has no Content-Length to check.
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise _too_large(limit)
        return bytes(body)

    def _charge(self, principal: Principal, cost: int) -> None:
        """Spend ``cost`` of the principal's budget, or refuse with 429 and Retry-After."""
        wait = self.limiter.take(principal.subject, cost)
        if wait > 0:
            raise Refusal(
                429,
                "rate_limited",
                f"request budget exhausted: {self.settings.rate_burst} tokens, refilled at "
                f"{self.settings.rate_per_second:g}/s (one per request and per new data key)",
                limit="rate_per_second",
                maximum=self.settings.rate_per_second,
                wait=wait,
            )

    async def _decode(
        self, principal: Principal, namespace: str, payloads: Sequence[Payload]
    ) -> tuple[list[Payload], int]:
        # Only envelope payloads recorded under this namespace are opened; everything else
        # goes back as it came (a search attribute as is, another namespace's encrypted).
        ours = [
            i
            for i, p in enumerate(payloads)
            if p.metadata.get(META_ENCODING) == ENCODING and recorded_namespace(p) == namespace
        ]
        opened = [payloads[i] for i in ours]
        # Priced before Vault sees anything: each data key not yet held costs a token.
        self._charge(principal, self.codec.unwraps_needed(opened))
        out = list(payloads)
        refused = sum(1 for p in payloads if p.metadata.get(META_ENCODING) == ENCODING)
        for i, decoded in zip(ours, await self.codec.decode_each(opened), strict=True):
            if decoded is not None:  # None: tampered or key retired, stays encrypted
                out[i] = await self._mark_erased(decoded)
                refused -= 1
        return out, refused

    async def _mark_erased(self, payload: Payload) -> Payload:
        """``payload`` with an erased customer's sealed fields shown as ``erased``."""
        if self.erasures is None or payload.metadata.get("encoding") != JSON_PLAIN:
            return payload
        try:
            data = json.loads(payload.data)
            marked = await self.erasures.mark(data)
        except (ValueError, VaultUnavailableError, TransitDeniedError):
            return payload  # shown sealed, as without the view: never worse than that
        if marked == data:
            return payload
        return Payload(metadata=dict(payload.metadata), data=json.dumps(marked).encode())

    # --- endpoints --------------------------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        """200 once the server's Vault session is up."""
        if not self.ready():
            return JSONResponse({"status": "starting"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def decode(self, request: Request) -> Response:
        """``POST /decode``."""
        return await self._convert(request, "decode")

    async def encode(self, request: Request) -> Response:
        """``POST /encode`` (404 unless enabled)."""
        if not self.settings.enable_encode:
            self._audit(request, "encode", outcome="disabled", status=404)
            return JSONResponse({"error": "encode is disabled"}, status_code=404)
        return await self._convert(request, "encode")

    async def _convert(self, request: Request, op: str) -> Response:
        started = time.monotonic()
        namespace = request.headers.get("x-namespace")
        fields: dict[str, Any] = {"namespace": namespace}
        status = 200
        try:
            if not self._origin_ok(request):
                raise Refusal(403, "origin_refused", "origin not allowed")
            principal, via = await self._authenticate(request)
            fields |= {"subject": principal.subject, "username": principal.username, "auth": via}
            if not namespace:
                raise Refusal(400, "bad_request", "X-Namespace header required")
            if op == "decode":
                allowed = principal.can_read(namespace)
            else:
                allowed = principal.can_write(namespace)
            if not allowed:
                raise Refusal(403, "forbidden", f"no permission on namespace {namespace}")
            # Charged before the body is read: an exhausted budget costs no parsing either.
            self._charge(principal, 1)
            body = await self._read_body(request, self.settings.max_body_bytes)
            try:
                message = json_format.Parse(body, Payloads(), ignore_unknown_fields=True)
            except (json_format.ParseError, UnicodeDecodeError):
                raise Refusal(400, "bad_request", "body is not Payloads JSON") from None
            fields["payload_count"] = len(message.payloads)
            most = self.settings.max_payloads_per_request
            if len(message.payloads) > most:
                raise Refusal(
                    413,
                    "too_many_payloads",
                    f"more than {most} payloads in one request",
                    limit="max_payloads_per_request",
                    maximum=most,
                )
            try:
                if op == "decode":
                    out, refused = await self._decode(principal, namespace, message.payloads)
                else:
                    out, refused = await self.codec.encode(message.payloads), 0
            except TransitDeniedError:
                raise Refusal(403, "identity_denied", f"this server may not {op}") from None
            except VaultUnavailableError:
                raise Refusal(503, "vault_unavailable", "key service unavailable") from None
            fields |= {"outcome": "partial" if refused else "ok", "left_encoded": refused}
            body_out = json_format.MessageToDict(Payloads(payloads=out))
            return JSONResponse(body_out, headers={"Cache-Control": "no-store"})
        except Refusal as refusal:
            fields["outcome"] = refusal.outcome
            status = refusal.status
            return refusal.response()
        finally:
            fields["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
            self._audit(request, op, status=status, **fields)

    def _audit(self, request: Request, endpoint: str, **fields: Any) -> None:
        client = request.client
        log.info(
            "codec.audit",
            endpoint=endpoint,
            origin=request.headers.get("origin"),
            remote=client.host if client else None,
            **fields,
        )


Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


def create_app(service: CodecService, lifespan: Lifespan | None = None) -> ASGIApp:
    """The ASGI app: routes of ``service`` behind the CORS middleware."""
    routes = [
        Route("/healthz", service.healthz, methods=["GET"]),
        Route("/decode", service.decode, methods=["POST"]),
        Route("/encode", service.encode, methods=["POST"]),
        Route("/login", service.login_form, methods=["GET"]),
        Route(CODEC_CALLBACK_PATH, service.callback, methods=["GET"]),
        Route("/logout", service.logout, methods=["POST"]),
        Route("/session", service.session, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    return CorsMiddleware(app, service.settings.allowed_origins)
