"""The OIDC authorization code flow with PKCE, client side, driven by discovery.

Used by the codec server's browser login, by ``orders login`` and by tests. Every endpoint
comes from the provider's discovery document (``<issuer>/.well-known/openid-configuration``,
:func:`discover`): nothing here knows where OpenBao keeps them, so another provider
(Keycloak, Entra, Okta) can take its place. The protocol work is Authlib's:

* :func:`new_request` makes one authorization request: ``state``, ``nonce`` and a PKCE
  verifier; :attr:`AuthRequest.browser_url` is the authorization endpoint with them and the
  S256 challenge.
* :func:`exchange_code` trades the code, with the verifier, at the token endpoint for the
  ID token — no client secret: the client is public.
* :func:`authorize_as_person` does what OpenBao's UI does once a person has logged in: it
  calls OpenBao's authorize API with the person's Vault token. It plays the *browser* for
  dev users (the CLI's non-interactive mode and the tests), and is the one OpenBao-specific
  part.
* :func:`loopback_login` is ``orders login``: a one-shot HTTP server on 127.0.0.1 receives
  the redirect (no device flow, no copy-paste of codes).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from authlib.integrations.base_client.errors import OAuthError
from authlib.oauth2.rfc7636 import create_s256_code_challenge

with warnings.catch_warnings():
    # Authlib >= 1.9 prefers the httpx2 fork and warns (always, on stderr) when it falls back
    # to httpx, which this project uses everywhere; the API it uses here is the same.
    warnings.filterwarnings("ignore", "The httpx module is deprecated", DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

from orders.security.trust import httpx_verify
from orders.security.vault import VaultUnavailableError
from orders.vault import people as vault_people
from orders.vault.people import PersonLoginError

CHALLENGE_METHOD: Final = "S256"
DISCOVERY_PATH: Final = "/.well-known/openid-configuration"


class AuthorizationDeniedError(PersonLoginError):
    """The provider refused to authorize the person (e.g. in no people group)."""


class ProviderUnavailableError(VaultUnavailableError):
    """The provider (its discovery document or token endpoint) is unreachable or failing."""


@dataclass(frozen=True)
class Provider:
    """What a client needs of an OIDC provider, from its discovery document.

    Attributes:
        issuer: The issuer (``iss`` of its tokens), as the document states it.
        authorization_endpoint: Where browsers are sent.
        token_endpoint: Where codes are exchanged.
        jwks_uri: Where its public keys are published.
    """

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


async def discover(issuer: str, *, verify: str | bool = True, timeout: float = 10.0) -> Provider:
    """The provider at ``issuer``, from ``<issuer>/.well-known/openid-configuration``.

    Raises:
        ProviderUnavailableError: No usable document (unreachable, not JSON, an endpoint
            missing, or a document stating another issuer: OIDC Discovery §4.3).
    """
    url = issuer.rstrip("/") + DISCOVERY_PATH
    try:
        async with httpx.AsyncClient(verify=httpx_verify(verify), timeout=timeout) as http:
            resp = await http.get(url)
        resp.raise_for_status()
        doc = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ProviderUnavailableError(
            f"OIDC discovery failed at {url}: {type(exc).__name__}"
        ) from None
    fields = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
    if not isinstance(doc, dict) or not all(isinstance(doc.get(f), str) for f in fields):
        raise ProviderUnavailableError(f"OIDC discovery document at {url} lacks an endpoint")
    if doc["issuer"] != issuer:
        raise ProviderUnavailableError(f"OIDC discovery at {url} names another issuer")
    return Provider(*(doc[f] for f in fields))


@dataclass(frozen=True)
class AuthRequest:
    """One authorization request and the secrets that go with it.

    Attributes:
        authorization_endpoint: The provider's (from discovery).
        client_id: The requesting client.
        redirect_uri: Where the code is sent.
        state: Binds the redirect to this request (CSRF).
        nonce: Binds the ID token to this request (replay).
        verifier: PKCE code verifier (kept by the client, never sent to the browser).
    """

    authorization_endpoint: str
    client_id: str
    redirect_uri: str
    state: str
    nonce: str
    verifier: str

    @property
    def challenge(self) -> str:
        """S256 challenge of the verifier."""
        challenge: str = create_s256_code_challenge(self.verifier)
        return challenge

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
        """Where to send the person's browser (the provider's login, then the redirect)."""
        client = AsyncOAuth2Client(
            self.client_id,
            redirect_uri=self.redirect_uri,
            scope=" ".join(vault_people.REQUESTED_SCOPES),
            code_challenge_method=CHALLENGE_METHOD,
        )
        url, _ = client.create_authorization_url(
            self.authorization_endpoint,
            state=self.state,
            code_verifier=self.verifier,
            nonce=self.nonce,
        )
        return str(url)


def new_request(provider: Provider, client_id: str, redirect_uri: str) -> AuthRequest:
    """A fresh authorization request (random state, nonce and 64-byte verifier)."""
    return AuthRequest(
        authorization_endpoint=provider.authorization_endpoint,
        client_id=client_id,
        redirect_uri=redirect_uri,
        state=secrets.token_urlsafe(24),
        nonce=secrets.token_urlsafe(24),
        verifier=secrets.token_urlsafe(64),
    )


async def exchange_code(
    provider: Provider,
    request: AuthRequest,
    code: str,
    *,
    verify: str | bool = True,
    timeout: float = 10.0,
) -> str:
    """Trade ``code`` (with the PKCE verifier) for the ID token at the token endpoint.

    Raises:
        PersonLoginError: The provider refused the code (expired, reused, wrong verifier).
        ProviderUnavailableError: The provider unreachable or failing.
    """
    async with AsyncOAuth2Client(
        request.client_id,
        token_endpoint_auth_method="none",  # noqa: S106 - a public client: PKCE, no secret
        redirect_uri=request.redirect_uri,
        code_challenge_method=CHALLENGE_METHOD,
        verify=httpx_verify(verify),
        timeout=timeout,
    ) as client:
        try:
            token = await client.fetch_token(
                provider.token_endpoint,
                grant_type="authorization_code",
                code=code,
                code_verifier=request.verifier,
            )
        except OAuthError as exc:
            raise PersonLoginError(f"code refused: {exc.error}") from None
        except httpx.HTTPError as exc:
            raise ProviderUnavailableError(
                f"token endpoint unreachable: {type(exc).__name__}"
            ) from None
        except ValueError:
            raise ProviderUnavailableError("token endpoint answered no JSON") from None
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise PersonLoginError("the provider answered without an ID token")
    return id_token


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
    provider = await discover(vault_people.issuer_for(vault_addr), verify=verify, timeout=timeout)
    request = new_request(provider, client_id, redirect_uri)
    code = await authorize_as_person(
        vault_addr, request.params(), username, password, verify=verify, timeout=timeout
    )
    return await exchange_code(provider, request, code, verify=verify, timeout=timeout)


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
        ProviderUnavailableError: No discovery document, or the token endpoint failing.
        TimeoutError: Nobody completed the login in time.
    """
    provider = await discover(issuer, verify=verify)
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
    request = new_request(provider, client_id, redirect)
    async with server:
        await open_url(request.browser_url)
        query = await asyncio.wait_for(received, timeout)
    if "code" not in query:
        if query.get("error") == ["access_denied"]:
            raise AuthorizationDeniedError("not authorized for this client")
        raise PersonLoginError(f"login failed: {query.get('error', ['no code'])[0]}")
    return await exchange_code(provider, request, query["code"][0], verify=verify, timeout=30)


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
