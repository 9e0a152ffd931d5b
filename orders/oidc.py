"""The OIDC authorization code flow with PKCE against OpenBao's provider (client side).

Used by the codec server's browser login, by ``orders login`` and by tests:

* :func:`new_request` makes one authorization request: ``state``, ``nonce`` and a PKCE
  verifier with its S256 challenge, and the browser URL (OpenBao's UI route, which shows
  OpenBao's own login page and then redirects to ``redirect_uri`` with ``code``).
* :func:`exchange_code` trades the code, with the verifier, at the token endpoint for the
  ID token (a JWT signed by the provider's key) — no client secret: the client is public.
* :func:`authorize_as_person` does what OpenBao's UI does once a person has logged in: it calls
  the authorize API with the person's Vault token. The CLI's non-interactive dev mode and
  the tests use it with a userpass login instead of a browser.
* :func:`loopback_login` is ``orders login``: a one-shot HTTP server on 127.0.0.1 receives
  the redirect (no device flow, no copy-paste of codes).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from orders.security.trust import httpx_verify
from orders.security.vault import VaultUnavailableError
from orders.vault import people as vault_people
from orders.vault.people import PersonLoginError

CHALLENGE_METHOD: Final = "S256"


class AuthorizationDeniedError(PersonLoginError):
    """The provider refused to authorize the person (e.g. in no people group)."""


@dataclass(frozen=True)
class AuthRequest:
    """One authorization request and the secrets that go with it.

    Attributes:
        issuer: The provider's issuer.
        client_id: The requesting client.
        redirect_uri: Where the code is sent.
        state: Binds the redirect to this request (CSRF).
        nonce: Binds the ID token to this request (replay).
        verifier: PKCE code verifier (kept by the client, never sent to the browser).
    """

    issuer: str
    client_id: str
    redirect_uri: str
    state: str
    nonce: str
    verifier: str

    @property
    def challenge(self) -> str:
        """S256 challenge of the verifier."""
        digest = hashlib.sha256(self.verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def params(self) -> dict[str, str]:
        """Query parameters of the authorization request."""
        return {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": " ".join(vault_people.REQUESTED_SCOPES),
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": self.challenge,
            "code_challenge_method": CHALLENGE_METHOD,
        }

    @property
    def browser_url(self) -> str:
        """Where to send the person's browser (OpenBao's login page, then the redirect)."""
        return f"{vault_people.authorize_url_for(self.issuer)}?{urlencode(self.params())}"


def new_request(issuer: str, client_id: str, redirect_uri: str) -> AuthRequest:
    """A fresh authorization request (random state, nonce and 64-byte verifier)."""
    return AuthRequest(
        issuer=issuer,
        client_id=client_id,
        redirect_uri=redirect_uri,
        state=secrets.token_urlsafe(24),
        nonce=secrets.token_urlsafe(24),
        verifier=secrets.token_urlsafe(64),
    )


async def exchange_code(
    http: httpx.AsyncClient, request: AuthRequest, code: str, token_url: str | None = None
) -> str:
    """Trade ``code`` (with the PKCE verifier) for the ID token.

    Args:
        http: Client used to reach the token endpoint.
        request: The request the code answers.
        code: The authorization code from the redirect.
        token_url: Token endpoint as this process reaches it (default: the issuer's).

    Raises:
        PersonLoginError: The provider refused the code (expired, reused, wrong verifier).
        VaultUnavailableError: OpenBao unreachable or failing.
    """
    try:
        resp = await http.post(
            token_url or vault_people.token_url_for(request.issuer),
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": request.redirect_uri,
                "client_id": request.client_id,
                "code_verifier": request.verifier,
            },
        )
    except httpx.HTTPError as exc:
        raise VaultUnavailableError(f"OpenBao unreachable: {type(exc).__name__}") from None
    if resp.status_code in (400, 401):
        raise PersonLoginError(f"code refused: {_error(resp)}")
    if resp.status_code != 200:
        raise VaultUnavailableError(f"token endpoint answered HTTP {resp.status_code}")
    token: str = resp.json()["id_token"]
    return token


def _error(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("error", "error"))
    except ValueError:
        return f"HTTP {resp.status_code}"


async def authorize_as_person(
    vault_addr: str,
    query: dict[str, str],
    username: str,
    password: str,
    *,
    verify: str | bool = True,
    timeout: float = 10.0,
) -> str:
    """Log in with userpass and ask the authorize API for a code (what OpenBao's UI does).

    The person's Vault token is revoked at once. ``query`` is the authorization request's
    parameters as the browser got them (the challenge, never the verifier).

    Raises:
        AuthorizationDeniedError: The person may not use the client (no people group).
        PersonLoginError: Wrong name or password, or any other refusal.
        VaultUnavailableError: OpenBao unreachable or failing.
    """
    api = vault_people.authorize_api_for(vault_people.issuer_for(vault_addr))
    async with httpx.AsyncClient(
        base_url=vault_addr, verify=httpx_verify(verify), timeout=timeout
    ) as http:
        vault_token = await vault_people.userpass_token(http, username, password)
        try:
            resp = await http.post(api, json=query, headers={"X-Vault-Token": vault_token})
            try:
                body = resp.json()
            except ValueError:
                body = {}
            if resp.status_code == 200 and body.get("code"):
                if body.get("state") != query.get("state"):
                    raise PersonLoginError("authorization answered another request")
                code: str = body["code"]
                return code
            error = str(body.get("error", f"HTTP {resp.status_code}"))
            if error == "access_denied":
                raise AuthorizationDeniedError("not authorized for this client")
            if resp.status_code >= 500:
                raise VaultUnavailableError(f"authorize answered HTTP {resp.status_code}")
            raise PersonLoginError(f"authorization refused: {error}")
        except httpx.HTTPError as exc:
            raise VaultUnavailableError(f"OpenBao unreachable: {type(exc).__name__}") from None
        finally:
            with contextlib.suppress(httpx.HTTPError):
                await http.post(
                    "/v1/auth/token/revoke-self", headers={"X-Vault-Token": vault_token}
                )


async def fetch_person_token(
    vault_addr: str,
    client_id: str,
    username: str,
    password: str,
    *,
    redirect_uri: str = vault_people.CLI_REDIRECT_URI,
    verify: str | bool = True,
    timeout: float = 10.0,
) -> str:
    """An ID token of ``username`` for ``client_id``: the whole flow, PKCE included."""
    request = new_request(vault_people.issuer_for(vault_addr), client_id, redirect_uri)
    code = await authorize_as_person(
        vault_addr, request.params(), username, password, verify=verify, timeout=timeout
    )
    async with httpx.AsyncClient(verify=httpx_verify(verify), timeout=timeout) as http:
        return await exchange_code(http, request, code)


Opener = Callable[[str], Awaitable[None]]
"""Sends the person to a URL (a browser, or a function acting as one)."""


async def loopback_login(
    issuer: str,
    client_id: str,
    open_url: Opener,
    *,
    verify: str | bool = True,
    timeout: float = 300.0,
) -> str:
    """``orders login``: receive the redirect on a one-shot loopback server, exchange the code.

    Args:
        issuer: The provider's issuer.
        client_id: The public client (the codec server's: its tokens are for it).
        open_url: Called with the authorization URL once the callback listens.
        verify: TLS verification towards OpenBao.
        timeout: How long to wait for the person.

    Returns:
        The ID token.

    Raises:
        AuthorizationDeniedError: The provider refused the person.
        PersonLoginError: Wrong state, no code, or the code was refused.
        TimeoutError: Nobody completed the login in time.
    """
    received: asyncio.Future[dict[str, list[str]]] = asyncio.get_running_loop().create_future()
    path = urlsplit(vault_people.CLI_REDIRECT_URI).path

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await asyncio.wait_for(reader.readline(), 10)).decode(errors="replace")
            while (await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b"\n", b""):
                pass
            method, _, rest = line.partition(" ")
            target = rest.split(" ", 1)[0]
            parts = urlsplit(target)
            if method != "GET" or parts.path != path:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                return
            query = parse_qs(parts.query)
            ok = query.get("state") == [request.state] and "code" in query
            body = b"Signed in; you can close this window." if ok else b"Sign-in failed."
            status = b"200 OK" if ok else b"400 Bad Request"
            writer.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain\r\nCache-Control: "
                b"no-store\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
            if query.get("state") == [request.state] and not received.done():
                received.set_result(query)
        except (TimeoutError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    redirect = vault_people.CLI_REDIRECT_URI.replace("127.0.0.1", f"127.0.0.1:{port}", 1)
    request = new_request(issuer, client_id, redirect)
    async with server:
        await open_url(request.browser_url)
        query = await asyncio.wait_for(received, timeout)
    if "code" not in query:
        if query.get("error") == ["access_denied"]:
            raise AuthorizationDeniedError("not authorized for this client")
        raise PersonLoginError(f"login failed: {query.get('error', ['no code'])[0]}")
    async with httpx.AsyncClient(verify=httpx_verify(verify), timeout=30) as http:
        return await exchange_code(http, request, query["code"][0])


def acting_browser(
    vault_addr: str, username: str, password: str, *, verify: str | bool = True
) -> Opener:
    """An :data:`Opener` that plays the browser for a dev user.

    It logs in with userpass, asks the authorize API for the code and delivers the
    redirect to the callback, as OpenBao's UI would make the browser do.
    """

    async def open_url(url: str) -> None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        params = {"state": query.get("state", "")}
        try:
            params["code"] = await authorize_as_person(
                vault_addr, query, username, password, verify=verify
            )
        except AuthorizationDeniedError:
            params["error"] = "access_denied"
        async with httpx.AsyncClient(timeout=10) as http:
            await http.get(f"{query['redirect_uri']}?{urlencode(params)}")

    return open_url
