"""Codec server settings, from ``ORDERS_CODEC_*`` environment variables.

The server's *identity* settings (Vault address, token file, namespace) are the ordinary
``ORDERS_*`` worker settings of identity ``codec-server``; these are what is particular to
serving people.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from orders.vault import people as vault_people

DEFAULT_MAX_BODY_BYTES: Final = 4 * 1024 * 1024
"""The UI sends one event's payloads per request; 4 MiB is Temporal's default blob limit."""
DEFAULT_MAX_PAYLOADS: Final = 256
"""Payloads per request: the UI sends one event's payloads (a handful) per request."""
DEFAULT_RATE_PER_SECOND: Final = 20.0
DEFAULT_RATE_BURST: Final = 200
"""A UI page load decodes each event of a history in its own request, at once: the burst
covers a long history; the rate, a person reading one history after another."""
DEFAULT_LOGINS_PER_CLIENT: Final = 20


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` (what browsers send as ``Origin``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {url!r}")
    return f"{parts.scheme}://{parts.netloc}".lower()


class CodecServerSettings(BaseSettings):
    """What the codec server serves, to whom, and how it verifies them."""

    model_config = SettingsConfigDict(env_prefix="ORDERS_CODEC_", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=0, le=65535)
    public_url: str | None = None
    """How browsers reach this server (default ``http://host:port``)."""
    ui_origin: str | None = None
    """The one browser origin allowed to call ``/decode`` cross-origin (the Temporal UI)."""
    client_id: str | None = None
    """This server's OIDC client id at OpenBao (generated there): the tokens' audience."""
    issuer: str | None = None
    """Required ``iss`` (default: OpenBao's ``orders`` provider at ``ORDERS_VAULT_ADDR``).
    Every endpoint (authorization, token, keys) comes from its discovery document,
    ``<issuer>/.well-known/openid-configuration``."""
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024)
    """Largest request body (413 beyond it)."""
    max_payloads_per_request: int = Field(default=DEFAULT_MAX_PAYLOADS, ge=1)
    """Most payloads in one request (413 beyond it)."""
    rate_per_second: float = Field(default=DEFAULT_RATE_PER_SECOND, gt=0)
    """Budget refill per authenticated principal: tokens per second. A request costs one
    token, plus one per data key it makes the server unwrap at OpenBao (429 when short)."""
    rate_burst: int = Field(default=DEFAULT_RATE_BURST, ge=1)
    """Budget capacity per principal (tokens)."""
    rate_principals: int = Field(default=10_000, ge=1)
    """Principals whose budgets are tracked at once (least recently seen forgotten first)."""
    max_pending_logins: int = Field(default=10_000, ge=1)
    """Browser logins in progress in all (429 beyond it; nothing is evicted early)."""
    max_pending_logins_per_client: int = Field(default=DEFAULT_LOGINS_PER_CLIENT, ge=1)
    """Browser logins in progress per client address (429 beyond it)."""
    enable_encode: bool = False
    """``POST /encode``; off by default (the codec-server identity cannot encrypt anyway)."""
    browser_login: bool = True
    """Serve ``/login``: the OIDC code flow with PKCE against OpenBao, then a session cookie
    (the dev server's UI has no login of its own, so browsers need this)."""
    cookie_secure: bool | None = None
    """``Secure`` cookie attribute; default: see :attr:`secure_cookie`."""
    leeway_seconds: float = Field(default=2.0, ge=0, le=300)
    jwks_cache_seconds: float = Field(default=300.0, gt=0)
    tls_cert: Path | None = None
    """Server certificate chain (PEM); with :attr:`tls_key`, the server speaks only HTTPS."""
    tls_key: Path | None = None

    @property
    def own_url(self) -> str:
        """The public URL without a trailing slash."""
        scheme = "https" if self.tls_cert else "http"
        return (self.public_url or f"{scheme}://{self.host}:{self.port}").rstrip("/")

    @property
    def own_origin(self) -> str:
        """Origin of the login page (forms post back to it)."""
        return origin_of(self.own_url)

    @property
    def allowed_origins(self) -> frozenset[str]:
        """Origins allowed to call the API from a browser."""
        return frozenset({origin_of(self.ui_origin)}) if self.ui_origin else frozenset()

    @property
    def secure_cookie(self) -> bool:
        """Whether the session cookie is ``Secure`` (and so ``__Host-`` prefixed).

        By default: over https, and over plain http on a loopback host, which browsers
        treat as a secure context (Chromium keeps ``Secure`` cookies from
        ``http://127.0.0.1``). Elsewhere over http a ``Secure`` cookie would be dropped.
        """
        if self.cookie_secure is not None:
            return self.cookie_secure
        parts = urlsplit(self.own_url)
        return parts.scheme == "https" or _is_loopback(parts.hostname or "")

    @property
    def callback_url(self) -> str:
        """Where OpenBao sends browsers back with the code (a registered redirect URI)."""
        return self.own_url + vault_people.CODEC_CALLBACK_PATH

    def audience(self) -> str:
        """The ``aud`` to require (the client id).

        Raises:
            ValueError: No client id configured.
        """
        if not self.client_id:
            raise ValueError("ORDERS_CODEC_CLIENT_ID is required (the OIDC client id)")
        return self.client_id

    def resolved_issuer(self, vault_addr: str) -> str:
        """The issuer to require."""
        return self.issuer or vault_people.issuer_for(vault_addr)
