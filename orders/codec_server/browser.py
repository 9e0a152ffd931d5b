"""The codec server's browser login: code flow with PKCE, then a sealed session cookie.

``GET /login`` sends the browser to the provider's authorization endpoint (from its
discovery document) with a fresh ``state``, ``nonce`` and PKCE challenge; the state, nonce
and verifier go into a sealed login cookie (``SameSite=Lax``: it has to come back on the
provider's top-level redirect), which binds the login to this browser. ``GET
/oidc/callback`` opens it, checks the state, exchanges the code and seals the ID token into
the session cookie (``SameSite=Strict``) until the token expires. Any replica can serve
either step, before or after a restart: the cookies carry everything, sealed with a key
every replica derives alike (:mod:`orders.codec_server.cookies`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from orders import logging as olog
from orders.codec_server import pages
from orders.codec_server.auth import (
    InvalidTokenError,
    KeysUnavailableError,
    Principal,
    TokenVerifier,
)
from orders.codec_server.cookies import CookieSealer, CookieTooLargeError
from orders.codec_server.limits import retry_after
from orders.codec_server.logins import LoginLimiter, TooManyLoginsError
from orders.codec_server.settings import CodecServerSettings
from orders.oidc import AuthRequest, Provider, new_request
from orders.security.vault import VaultUnavailableError
from orders.vault.people import PersonLoginError

log = olog.get(__name__)

COOKIE_SECURE: Final = "__Host-orders-codec-session"
"""``__Host-``: the browser only accepts it Secure, for this exact host, on path ``/``."""
COOKIE_PLAIN: Final = "orders-codec-session"
LOGIN_COOKIE_SECURE: Final = "__Host-orders-codec-login"
LOGIN_COOKIE_PLAIN: Final = "orders-codec-login"
"""Binds a login in progress to the browser that started it (SameSite=Lax: the redirect
back from the provider is a top-level navigation from another site)."""
LOGIN_COOKIE_SECONDS: Final = 600

ExchangeFn = Callable[[AuthRequest, str], Awaitable[str]]
"""(request, code) -> the ID token (raises PersonLoginError when the provider refuses)."""


class BrowserLogin:
    """``/login``, ``/oidc/callback``, ``/logout`` and ``/session`` (mixed into the service).

    Attributes:
        settings: The server's settings.
        verifier: Verifies the ID tokens.
        exchange: Code -> ID token (None: browser login disabled).
        provider: The provider's endpoints (discovery).
        sealer: Seals the cookies (None until derived at start).
        logins: Bounds on logins started.
    """

    settings: CodecServerSettings
    verifier: TokenVerifier
    exchange: ExchangeFn | None
    provider: Provider | None
    sealer: CookieSealer | None
    logins: LoginLimiter
    cookie_name: str
    login_cookie_name: str

    def _audit(self, request: Request, endpoint: str, **fields: Any) -> None:
        raise NotImplementedError

    def _origin_ok(self, request: Request) -> bool:
        raise NotImplementedError

    def _safe_next(self, candidate: str | None) -> str | None:
        """Redirect only back to the UI (never an open redirect)."""
        ui = self.settings.ui_origin
        if not candidate or not ui:
            return None
        ui = ui.rstrip("/")
        return candidate if candidate == ui or candidate.startswith(ui + "/") else None

    def _session_token(self, request: Request) -> str | None:
        """The ID token in the request's session cookie, if sealed here and not expired.

        Opening it costs no OpenBao request; the token is then verified like a bearer's.
        """
        if self.sealer is None:
            return None
        content = self.sealer.open(self.cookie_name, request.cookies.get(self.cookie_name))
        token = content.get("token") if content else None
        return token if isinstance(token, str) else None

    async def _session_principal(self, request: Request) -> Principal | None:
        token = self._session_token(request)
        if token is None:
            return None
        try:
            return await self.verifier.verify(token)
        except (InvalidTokenError, KeysUnavailableError):
            return None

    def _html(self, content: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(content, status_code=status, headers=pages.SECURITY_HEADERS)

    @staticmethod
    def _client(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    def _open_login(self, request: Request) -> dict[str, Any] | None:
        if self.sealer is None:
            return None
        return self.sealer.open(self.login_cookie_name, request.cookies.get(self.login_cookie_name))

    async def login_form(self, request: Request) -> Response:
        """``GET /login``: who is signed in, or off to the provider's login (code + PKCE)."""
        if self.exchange is None or self.provider is None:
            return JSONResponse({"error": "browser login is disabled"}, status_code=404)
        if self.sealer is None:
            return JSONResponse({"error": "starting"}, status_code=503)
        principal = await self._session_principal(request)
        if principal is not None:
            perms = sorted(f"{ns}:{role}" for ns, role in principal.permissions)
            return self._html(
                pages.signed_in_page(principal.username, perms, self.settings.ui_origin)
            )
        assert self.settings.client_id is not None
        client = self._client(request)
        earlier = self._open_login(request)
        if earlier is not None:
            # This browser starting again replaces its own login (its share comes back).
            self.logins.end(str(earlier.get("state")), client, str(earlier.get("client")))
        try:
            self.logins.start(client)
        except TooManyLoginsError as full:
            self._audit(request, "login", outcome="too_many_logins", status=429)
            text = (
                f"Too many sign-ins in progress ({full.limit} = {full.maximum}). "
                f"Please try again in {retry_after(full.retry_after)} seconds."
            )
            page = self._html(pages.message_page("Too many sign-ins", text), 429)
            page.headers["Retry-After"] = retry_after(full.retry_after)
            return page
        auth = new_request(self.provider, self.settings.client_id, self.settings.callback_url)
        pending = {
            "state": auth.state,
            "nonce": auth.nonce,
            "verifier": auth.verifier,
            "next": self._safe_next(request.query_params.get("next")),
            "client": client,
        }
        binding = self.sealer.seal(
            self.login_cookie_name, pending, time.time() + LOGIN_COOKIE_SECONDS
        )
        self._audit(request, "login", outcome="redirected", status=303)
        response = RedirectResponse(auth.browser_url, status_code=303)
        response.headers["Cache-Control"] = "no-store"
        return self._cookie(response, self.login_cookie_name, binding, LOGIN_COOKIE_SECONDS)

    def _take_login(self, request: Request) -> tuple[AuthRequest, str | None] | None:
        """The login this callback completes: its cookie, its state, not ended before."""
        pending = self._open_login(request)
        state = request.query_params.get("state", "")
        if pending is None or self.provider is None or self.settings.client_id is None:
            return None
        fields = [pending.get(k) for k in ("state", "nonce", "verifier", "client")]
        if not all(isinstance(f, str) for f in fields) or not state:
            return None
        if not secrets.compare_digest(str(pending["state"]), state):
            return None
        if not self.logins.end(state, self._client(request), str(pending["client"])):
            return None  # already ended here: a replayed redirect
        auth = AuthRequest(
            self.provider.authorization_endpoint,
            self.settings.client_id,
            self.settings.callback_url,
            state,
            str(pending["nonce"]),
            str(pending["verifier"]),
        )
        next_url = pending.get("next")
        return auth, self._safe_next(next_url if isinstance(next_url, str) else None)

    async def callback(self, request: Request) -> Response:
        """``GET /oidc/callback``: the code from the provider -> ID token -> session cookie."""
        if self.exchange is None or self.provider is None:
            return JSONResponse({"error": "browser login is disabled"}, status_code=404)
        taken = self._take_login(request)
        if taken is None:
            # No login cookie, another login's state, or used: never exchange such a code.
            self._audit(request, "callback", outcome="bad_state", status=400)
            return self._html(pages.message_page("Sign-in failed", "Please sign in again."), 400)
        auth, next_url = taken
        params = request.query_params
        if params.get("error"):
            denied = params["error"] == "access_denied"
            text = "You have no access to this codec server." if denied else "Sign-in failed."
            return self._login_failed(
                request, params["error"][:32], 403 if denied else 401, "Sign-in refused", text
            )
        try:
            token = await self.exchange(auth, params.get("code", ""))
            principal = await self.verifier.verify(token)
            if principal.nonce != auth.nonce:
                raise InvalidTokenError("nonce does not match the request")
        except (PersonLoginError, InvalidTokenError):
            return self._login_failed(
                request, "refused", 401, "Sign-in failed", "Please sign in again."
            )
        except (VaultUnavailableError, KeysUnavailableError):
            return self._login_failed(
                request, "unavailable", 503, "Sign-in unavailable", "Please try again later."
            )
        assert self.sealer is not None  # _take_login needed it
        try:
            session = self.sealer.seal(self.cookie_name, {"token": token}, principal.expires_at)
        except CookieTooLargeError:
            return self._login_failed(
                request, "token_too_large", 500, "Sign-in failed", "The ID token is too large."
            )
        self._audit(
            request,
            "callback",
            username=principal.username,
            subject=principal.subject,
            outcome="ok",
            status=303,
        )
        response = RedirectResponse(next_url or "/login", status_code=303)
        max_age = max(0, int(principal.expires_at - time.time()))
        self._cookie(response, self.cookie_name, session, max_age)
        return self._cookie(response, self.login_cookie_name, None)

    def _login_failed(
        self, request: Request, outcome: str, status: int, title: str, text: str
    ) -> Response:
        """A callback that ends without a session: audited, and the login binding dropped."""
        self._audit(request, "callback", outcome=outcome, status=status)
        page = self._html(pages.message_page(title, text), status)
        return self._cookie(page, self.login_cookie_name, None)

    def _cookie(
        self, response: Response, name: str, value: str | None, max_age: int = 0
    ) -> Response:
        """Set ``name`` to ``value`` on ``response`` (``None``: delete it); returns ``response``.

        Both cookies are host-wide, HTTPS-only where the codec server is, and hidden from
        scripts. The session cookie is ``SameSite=Strict``; the login binding must be
        ``Lax``, as it has to come back on the provider's top-level redirect to the callback.
        """
        samesite: Literal["lax", "strict"] = "strict" if name == self.cookie_name else "lax"
        secure = self.settings.secure_cookie
        if value is None:
            response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite=samesite)
        else:
            response.set_cookie(
                name,
                value,
                max_age=max_age,
                path="/",
                secure=secure,
                httponly=True,
                samesite=samesite,
            )
        return response

    async def logout(self, request: Request) -> Response:
        """``POST /logout``: the browser's session cookie is cleared.

        Nothing is kept server-side to revoke: a copy of the cookie taken before logout
        stays valid until its ID token expires (the price of statelessness; see
        docs/codec-server.md).
        """
        if not self._origin_ok(request):
            return JSONResponse({"error": "origin not allowed"}, status_code=403)
        self._audit(request, "logout", outcome="ok", status=303)
        return self._cookie(RedirectResponse("/login", status_code=303), self.cookie_name, None)

    async def session(self, request: Request) -> Response:
        """``GET /session``: the signed-in person (for the UI and scripts) or 401."""
        principal = await self._session_principal(request)
        if principal is None:
            return JSONResponse({"error": "not signed in"}, status_code=401)
        return JSONResponse(
            {
                "username": principal.username,
                "subject": principal.subject,
                "permissions": sorted(f"{ns}:{role}" for ns, role in principal.permissions),
                "expires_at": principal.expires_at,
            },
            headers={"Cache-Control": "no-store"},
        )
