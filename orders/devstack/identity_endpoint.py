"""Local Kubernetes identity endpoint: the subset of kube-apiserver that identities use.

Without a cluster, something still has to issue ServiceAccount tokens and answer Vault's
TokenReview calls, or Kubernetes auth could only be tested in kind. This module is that
something, kept as close to the real API as the consumers can tell:

* ``POST /api/v1/namespaces/{ns}/serviceaccounts/{sa}/token`` (TokenRequest) issues RS256
  tokens with the claims of a projected ServiceAccount token. Callers authenticate with a
  per-ServiceAccount bootstrap credential (``clients/<sa>.token``), which stands in for the
  kubelet's right to request tokens for pods running under that ServiceAccount.
* ``POST /apis/authentication.k8s.io/v1/tokenreviews`` (TokenReview) is what Vault's
  Kubernetes auth method calls. The caller's bearer must itself be a token of this issuer.
* ``/.well-known/openid-configuration`` and ``/openid/v1/jwks`` (OIDC discovery), so a JWT
  auth method or a test can verify tokens offline.

Differences from a real apiserver, on purpose:

* No RBAC: any valid token of this issuer may call TokenReview (a real cluster needs
  ``system:auth-delegator``), and the bearer's audience is not checked. A real apiserver
  only accepts a bearer whose audiences include its own API audiences, so a token minted
  for ``aud: vault`` alone cannot be the reviewer JWT there; in a cluster use a dedicated
  reviewer ServiceAccount, or add the API audience to the workers' projected tokens.
* ServiceAccounts are the fixed set from :mod:`orders.identities`; their uids are derived
  from their names, so they are stable across restarts and no store is needed.
* TokenRequest does not support ``boundObjectRef`` (there are no pods to bind to).

Run it as ``python -m orders.devstack.identity_endpoint --state-dir DIR --port PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import jwt
import structlog
import uvicorn
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orders import identities
from orders import logging as olog
from orders.devstack import tls

log = structlog.get_logger("orders.devstack.identity_endpoint")

DEFAULT_API_AUDIENCES: Final[tuple[str, ...]] = ("https://kubernetes.default.svc",)
"""Audiences of the "apiserver" itself: the default for TokenRequest and TokenReview."""

DEFAULT_EXPIRATION_SECONDS: Final = 3600
DEFAULT_MIN_TOKEN_SECONDS: Final = 600
"""Kubernetes refuses TokenRequests shorter than ten minutes."""
MIN_TOKEN_SECONDS_FLOOR: Final = 10
"""Lowest ``--min-token-seconds`` accepted, so tests can watch tokens expire."""
DEFAULT_MAX_TOKEN_SECONDS: Final = 86400

SERVICE_ACCOUNT_GROUPS: Final = "system:serviceaccounts"
_USERNAME_PREFIX: Final = "system:serviceaccount:"
_MAX_BODY_BYTES: Final = 64 * 1024
_UID_NAMESPACE: Final = uuid.UUID("5b0f8d0e-4a36-5a6c-9a37-2f4c3e0d7a11")
_LOG_FIELDS: Final = "orders.identity_endpoint.log"

CA_CERT: Final = "ca.crt"
CA_KEY: Final = "ca.key"
SERVER_CERT: Final = "server.crt"
SERVER_KEY: Final = "server.key"
SIGNING_KEY: Final = "signing.key"
CLIENTS_DIR: Final = "clients"
READY_FILE: Final = "ready"

_CA_LIFETIME: Final = timedelta(days=3650)
_SERVER_LIFETIME: Final = timedelta(days=365)
_SERVER_RENEW_BEFORE: Final = timedelta(days=7)
_SERVER_SANS: Final[tuple[x509.GeneralName, ...]] = (
    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    x509.IPAddress(ipaddress.ip_address("::1")),
    x509.DNSName("localhost"),
)


class InvalidTokenError(Exception):
    """A ServiceAccount token that this issuer does not accept (message is safe to log)."""


class StateError(RuntimeError):
    """The state directory holds files that do not fit together."""


# --------------------------------------------------------------------------- state


def service_account_uid(name: str, namespace: str = identities.K8S_NAMESPACE) -> str:
    """Stable uid of a ServiceAccount: the same for a name on every run and machine.

    Vault's default alias source is the ServiceAccount uid, so a uid that changed across
    restarts would create a new identity entity for the same workload each time.
    """
    return str(uuid.uuid5(_UID_NAMESPACE, f"{namespace}/{name}"))


def username(namespace: str, name: str) -> str:
    """Kubernetes user name of a ServiceAccount (``system:serviceaccount:<ns>:<sa>``)."""
    return f"{_USERNAME_PREFIX}{namespace}:{name}"


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def rsa_jwk_thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of an RSA public key."""
    numbers = public_key.public_numbers()
    # RFC 7638 fixes the member set, their lexicographic order and no whitespace.
    canonical = json.dumps(
        {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)},
        separators=(",", ":"),
        sort_keys=True,
    )
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, readable by the owner only."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _read_private(path: Path) -> bytes:
    """Read a private file, tightening its mode if someone loosened it."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("tightened_file_mode", path=str(path), mode=oct(mode))
        os.chmod(path, 0o600)
    return path.read_bytes()


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def _load_ec_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(_read_private(path), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise StateError(f"{path} is not an EC private key")
    return key


def _same_public_key(
    cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
) -> bool:
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    return cert.public_key().public_bytes(enc, fmt) == key.public_key().public_bytes(enc, fmt)


def _server_cert_usable(
    cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate
) -> bool:
    if not _same_public_key(cert, key):
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    if cert.not_valid_after_utc - datetime.now(UTC) < _SERVER_RENEW_BEFORE:
        return False
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return all(name in sans for name in _SERVER_SANS)


@dataclass(frozen=True)
class IdentityState:
    """Keys, certificates and bootstrap credentials of one identity endpoint.

    Attributes:
        state_dir: Directory everything lives in (mode 0700).
        issuer: Issuer URL (``iss`` claim and OIDC issuer), e.g. ``https://127.0.0.1:8443``.
        signing_key: RSA key that signs ServiceAccount tokens.
        kid: Key id in token headers and the JWKS (RFC 7638 thumbprint of the public key).
        bootstrap: ServiceAccount name -> bootstrap credential for TokenRequest.
        namespace: The only namespace ServiceAccounts exist in.
    """

    state_dir: Path
    issuer: str
    signing_key: rsa.RSAPrivateKey = field(repr=False)
    kid: str
    bootstrap: MutableMapping[str, str] = field(repr=False)
    namespace: str = identities.K8S_NAMESPACE

    @property
    def ca_cert_file(self) -> Path:
        """PEM CA certificate clients must trust (Vault's ``kubernetes_ca_cert``)."""
        return self.state_dir / CA_CERT

    @property
    def server_cert_file(self) -> Path:
        """PEM TLS server certificate, signed by the CA."""
        return self.state_dir / SERVER_CERT

    @property
    def server_key_file(self) -> Path:
        """PEM TLS server private key."""
        return self.state_dir / SERVER_KEY

    @property
    def ready_file(self) -> Path:
        """File written once the server listens (JSON with issuer, port, pid, ca_cert)."""
        return self.state_dir / READY_FILE

    def bootstrap_file(self, service_account: str) -> Path:
        """Path of a ServiceAccount's bootstrap credential (``clients/<sa>.token``)."""
        return self.state_dir / CLIENTS_DIR / f"{service_account}.token"

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        """Public half of the signing key."""
        return self.signing_key.public_key()

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set that verifies this issuer's tokens."""
        numbers = self.public_key.public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "alg": "RS256",
                    "kid": self.kid,
                    "n": _b64url_uint(numbers.n),
                    "e": _b64url_uint(numbers.e),
                }
            ]
        }

    def discover_service_accounts(self) -> list[str]:
        """Serve ServiceAccounts created since start-up; returns the names added.

        A ServiceAccount exists when its bootstrap credential file does
        (``clients/<sa>.token``, see :func:`create_service_account`), as a new one is
        served by the apiserver at once. Called only when a name or credential is unknown.
        """
        added: list[str] = []
        for path in sorted((self.state_dir / CLIENTS_DIR).glob("*.token")):
            if path.stem in self.bootstrap:
                continue
            credential = _read_private(path).decode().strip()
            if credential:
                self.bootstrap[path.stem] = credential
                added.append(path.stem)
        return added

    def service_account_for_credential(self, credential: str) -> str | None:
        """Which ServiceAccount a bootstrap credential belongs to, if any.

        Every stored credential is compared in constant time, without stopping at a match,
        so timing tells nothing about which one (or how much of one) matched.
        """
        offered = credential.encode("utf-8")
        found: str | None = None
        for name, stored in self.bootstrap.items():
            if hmac.compare_digest(offered, stored.encode("utf-8")):
                found = name
        return found

    @classmethod
    def load_or_create(
        cls,
        state_dir: Path | str,
        issuer: str,
        service_accounts: Sequence[str] | None = None,
    ) -> IdentityState:
        """Load the state in ``state_dir``, creating whatever is missing.

        Existing keys and credentials are reused, so a restart keeps the CA that Vault
        trusts and the credentials workers hold. An expiring or mismatched server
        certificate is reissued from the existing CA.

        Args:
            state_dir: Directory to use; created with mode 0700.
            issuer: Issuer URL of the endpoint (``https://127.0.0.1:<port>``).
            service_accounts: ServiceAccounts to hold credentials for; defaults to every
                identity in :data:`orders.identities.ALL`.

        Returns:
            The loaded state.

        Raises:
            StateError: If existing files contradict each other (e.g. a CA certificate
                that does not match its key); they are never silently replaced.
        """
        root = Path(state_dir)
        _private_dir(root)
        names = (
            list(service_accounts)
            if service_accounts is not None
            else [i.service_account for i in identities.ALL]
        )

        ca_key_path, ca_cert_path = root / CA_KEY, root / CA_CERT
        if ca_key_path.exists() and ca_cert_path.exists():
            ca_key = _load_ec_key(ca_key_path)
            ca_cert = x509.load_pem_x509_certificate(_read_private(ca_cert_path))
            if not _same_public_key(ca_cert, ca_key):
                raise StateError(f"{ca_cert_path} does not match {ca_key_path}")
        elif ca_key_path.exists() or ca_cert_path.exists():
            raise StateError(f"only one of {ca_key_path} and {ca_cert_path} exists")
        else:
            ca_key, ca_cert = tls.new_ca("orders devstack identity CA", _CA_LIFETIME)
            _write_private(ca_key_path, tls.key_pem(ca_key))
            _write_private(ca_cert_path, ca_cert.public_bytes(serialization.Encoding.PEM))
            log.info("created_ca", path=str(ca_cert_path))

        srv_key_path, srv_cert_path = root / SERVER_KEY, root / SERVER_CERT
        usable = False
        if srv_key_path.exists() and srv_cert_path.exists():
            srv_key = _load_ec_key(srv_key_path)
            srv_cert = x509.load_pem_x509_certificate(_read_private(srv_cert_path))
            usable = _server_cert_usable(srv_cert, srv_key, ca_cert)
        if not usable:
            srv_key, srv_cert = tls.new_leaf(
                ca_key, ca_cert, "orders devstack identity", _SERVER_SANS, _SERVER_LIFETIME
            )
            _write_private(srv_key_path, tls.key_pem(srv_key))
            _write_private(srv_cert_path, srv_cert.public_bytes(serialization.Encoding.PEM))
            log.info("issued_server_certificate", path=str(srv_cert_path))

        signing_path = root / SIGNING_KEY
        if signing_path.exists():
            loaded = serialization.load_pem_private_key(_read_private(signing_path), None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise StateError(f"{signing_path} is not an RSA private key")
            signing_key = loaded
        else:
            signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            _write_private(signing_path, tls.key_pem(signing_key))
            log.info("created_signing_key", path=str(signing_path))

        clients = root / CLIENTS_DIR
        _private_dir(clients)
        bootstrap: dict[str, str] = {}
        for name in names:
            path = clients / f"{name}.token"
            credential = _read_private(path).decode().strip() if path.exists() else ""
            if not credential:
                credential = secrets.token_urlsafe(32)
                _write_private(path, credential.encode() + b"\n")
            bootstrap[name] = credential

        return cls(
            state_dir=root,
            issuer=issuer.rstrip("/"),
            signing_key=signing_key,
            kid=rsa_jwk_thumbprint(signing_key.public_key()),
            bootstrap=bootstrap,
        )


def create_service_account(state_dir: Path | str, name: str) -> Path:
    """Create ServiceAccount ``name`` (its bootstrap credential file) if it does not exist.

    The cluster admin's ``kubectl create serviceaccount``: a running endpoint serves it on
    first use (:meth:`IdentityState.discover_service_accounts`).

    Returns:
        The credential file, which a worker presents to TokenRequest.
    """
    clients = Path(state_dir) / CLIENTS_DIR
    _private_dir(clients)
    path = clients / f"{name}.token"
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(32).encode() + b"\n")
    return path


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class IssuedToken:
    """A freshly minted token and when it stops being valid."""

    token: str = field(repr=False)
    expires_at: datetime
    audiences: tuple[str, ...]
    expiration_seconds: int


@dataclass(frozen=True)
class TokenIdentity:
    """Who a verified token says it is.

    Attributes:
        namespace: ServiceAccount namespace.
        service_account: ServiceAccount name.
        uid: ServiceAccount uid.
        audiences: The token's audiences.
        expires_at: Token expiry.
    """

    namespace: str
    service_account: str
    uid: str
    audiences: tuple[str, ...]
    expires_at: datetime

    @property
    def username(self) -> str:
        """Kubernetes user name (``system:serviceaccount:<ns>:<sa>``)."""
        return username(self.namespace, self.service_account)

    @property
    def groups(self) -> list[str]:
        """Groups a ServiceAccount belongs to, as the apiserver reports them."""
        return [
            SERVICE_ACCOUNT_GROUPS,
            f"{SERVICE_ACCOUNT_GROUPS}:{self.namespace}",
            "system:authenticated",
        ]


def issue_token(
    state: IdentityState,
    service_account: str,
    audiences: Sequence[str],
    seconds: int,
    *,
    now: datetime | None = None,
) -> IssuedToken:
    """Mint a ServiceAccount token shaped like a projected token from a real apiserver.

    Args:
        state: Endpoint state holding the signing key and issuer.
        service_account: ServiceAccount name; must be one ``state`` knows.
        audiences: ``aud`` claim (non-empty).
        seconds: Lifetime in seconds (not clamped here; the HTTP layer applies limits).
        now: Issue time; tests pass a past time to make expired tokens.

    Returns:
        The token with its expiry.

    Raises:
        ValueError: Unknown ServiceAccount, no audience, or a non-positive lifetime.
    """
    if service_account not in state.bootstrap:
        raise ValueError(f"unknown ServiceAccount {service_account!r}")
    if not audiences:
        raise ValueError("a token needs at least one audience")
    if seconds <= 0:
        raise ValueError("token lifetime must be positive")
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    expires = issued + timedelta(seconds=seconds)
    claims = {
        "aud": list(audiences),
        "exp": int(expires.timestamp()),
        "iat": int(issued.timestamp()),
        "nbf": int(issued.timestamp()),
        "iss": state.issuer,
        "jti": str(uuid.uuid4()),
        "kubernetes.io": {
            "namespace": state.namespace,
            "serviceaccount": {
                "name": service_account,
                "uid": service_account_uid(service_account, state.namespace),
            },
        },
        "sub": username(state.namespace, service_account),
    }
    # Real ServiceAccount tokens carry no "typ" header; None makes PyJWT drop it.
    token = jwt.encode(
        claims, state.signing_key, algorithm="RS256", headers={"kid": state.kid, "typ": None}
    )
    return IssuedToken(
        token=token, expires_at=expires, audiences=tuple(audiences), expiration_seconds=seconds
    )


def mint_token(
    state: IdentityState,
    service_account: str,
    audiences: Sequence[str],
    seconds: int,
    *,
    now: datetime | None = None,
) -> str:
    """Mint a ServiceAccount token and return only the JWT (see :func:`issue_token`)."""
    return issue_token(state, service_account, audiences, seconds, now=now).token


def verify_token(
    state: IdentityState,
    token: str,
    audiences: Sequence[str] | None = None,
    *,
    now: datetime | None = None,
) -> TokenIdentity:
    """Verify a ServiceAccount token the way the apiserver's authenticator does.

    Checks the signature (RS256 with this issuer's key only), issuer, ``exp``/``nbf``,
    that ``sub`` and the ``kubernetes.io`` claims name the same known ServiceAccount with
    its current uid, and, when ``audiences`` is given, that the token is meant for at
    least one of them.

    Args:
        state: Endpoint state.
        token: The compact JWT.
        audiences: Acceptable audiences; None skips the audience check.
        now: Verification time (defaults to the current time).

    Returns:
        The identity the token proves.

    Raises:
        InvalidTokenError: With a reason that never includes the token itself.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidTokenError(f"malformed token: {exc}") from None
    if header.get("alg") != "RS256":
        raise InvalidTokenError("token is not signed with RS256")
    if header.get("kid") != state.kid:
        raise InvalidTokenError("token is signed by an unknown key")

    try:
        # Time claims are checked below against ``now``, which PyJWT cannot take.
        claims: dict[str, Any] = jwt.decode(
            token,
            state.public_key,
            algorithms=["RS256"],
            issuer=state.issuer,
            audience=list(audiences) if audiences is not None else None,
            options={
                "require": ["exp", "iat", "nbf", "iss", "sub", "aud"],
                "verify_aud": audiences is not None,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidAudienceError:
        raise InvalidTokenError(
            f"token audiences are invalid for the target audiences {list(audiences or [])}"
        ) from None
    except jwt.PyJWTError as exc:
        raise InvalidTokenError(f"invalid token: {exc}") from None

    exp, nbf = claims["exp"], claims["nbf"]
    if not isinstance(exp, int) or not isinstance(nbf, int):
        raise InvalidTokenError("exp and nbf must be integers")
    moment = (now or datetime.now(UTC)).timestamp()
    if moment >= exp:
        raise InvalidTokenError("token has expired")
    if moment < nbf:
        raise InvalidTokenError("token is not yet valid")

    aud = claims["aud"]
    token_auds = (aud,) if isinstance(aud, str) else tuple(str(a) for a in aud)

    sub = claims["sub"]
    if not isinstance(sub, str) or not sub.startswith(_USERNAME_PREFIX):
        raise InvalidTokenError("sub is not a ServiceAccount")
    ns, _, name = sub.removeprefix(_USERNAME_PREFIX).partition(":")
    kube = claims.get("kubernetes.io")
    if not isinstance(kube, dict):
        raise InvalidTokenError("token has no kubernetes.io claim")
    sa_claim = kube.get("serviceaccount")
    if (
        kube.get("namespace") != ns
        or not isinstance(sa_claim, dict)
        or sa_claim.get("name") != name
    ):
        raise InvalidTokenError("kubernetes.io claims do not match sub")
    if name not in state.bootstrap:
        state.discover_service_accounts()
    if ns != state.namespace or name not in state.bootstrap:
        raise InvalidTokenError(f"ServiceAccount {ns}/{name} does not exist")
    uid = service_account_uid(name, ns)
    if sa_claim.get("uid") != uid:
        # The apiserver rejects tokens of a deleted-and-recreated ServiceAccount this way.
        raise InvalidTokenError(f"ServiceAccount {ns}/{name} uid does not match")

    return TokenIdentity(
        namespace=ns,
        service_account=name,
        uid=uid,
        audiences=token_auds,
        expires_at=datetime.fromtimestamp(exp, UTC),
    )


# --------------------------------------------------------------------------- HTTP API


class _ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, **details: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details


def _status_body(code: int, reason: str, message: str, details: Mapping[str, str]) -> Any:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = dict(details)
    return body


async def _api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, _ApiError)
    _log_fields(request).setdefault("error", exc.message)
    return JSONResponse(
        _status_body(exc.code, exc.reason, exc.message, exc.details), status_code=exc.code
    )


def _log_fields(request: Request) -> dict[str, Any]:
    fields = request.scope.get(_LOG_FIELDS)
    if fields is None:
        fields = {}
        request.scope[_LOG_FIELDS] = fields
    assert isinstance(fields, dict)
    return fields


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


_UNAUTHORIZED = (401, "Unauthorized", "Unauthorized")


async def _read_object(request: Request, kind: str) -> dict[str, Any]:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_BODY_BYTES:
            raise _ApiError(413, "RequestEntityTooLarge", "request body is too large")
    try:
        obj = json.loads(body) if body else {}
    except ValueError:
        raise _ApiError(400, "BadRequest", "request body is not valid JSON") from None
    if not isinstance(obj, dict):
        raise _ApiError(400, "BadRequest", f"request body must be a {kind} object")
    if obj.get("kind", kind) != kind:
        raise _ApiError(400, "BadRequest", f"expected kind {kind}, got {obj.get('kind')!r}")
    api_version = obj.get("apiVersion", "authentication.k8s.io/v1")
    if api_version != "authentication.k8s.io/v1":
        raise _ApiError(400, "BadRequest", f"unsupported apiVersion {api_version!r}")
    spec = obj.get("spec") or {}
    if not isinstance(spec, dict):
        raise _ApiError(400, "BadRequest", "spec must be an object")
    return spec


def _audiences(spec: Mapping[str, Any], default: Sequence[str]) -> list[str]:
    value = spec.get("audiences")
    if value is None or value == []:
        return list(default)
    if not isinstance(value, list) or not all(isinstance(a, str) and a for a in value):
        raise _ApiError(422, "Invalid", "spec.audiences must be a list of non-empty strings")
    return list(value)


def build_app(
    state: IdentityState,
    *,
    min_token_seconds: int = DEFAULT_MIN_TOKEN_SECONDS,
    max_token_seconds: int = DEFAULT_MAX_TOKEN_SECONDS,
    api_audiences: Sequence[str] = DEFAULT_API_AUDIENCES,
) -> Starlette:
    """Build the ASGI app of the identity endpoint.

    Args:
        state: Loaded endpoint state.
        min_token_seconds: Shortest TokenRequest accepted; shorter requests get 422, as
            in Kubernetes. At least :data:`MIN_TOKEN_SECONDS_FLOOR`.
        max_token_seconds: Longer requests are shortened to this, as the apiserver's
            ``--service-account-max-token-expiration`` does.
        api_audiences: The "apiserver" audiences: default audiences of TokenRequest and
            of TokenReview when the request names none.

    Returns:
        The Starlette application.

    Raises:
        ValueError: If the lifetime limits are out of range.
    """
    if min_token_seconds < MIN_TOKEN_SECONDS_FLOOR:
        raise ValueError(f"min_token_seconds must be at least {MIN_TOKEN_SECONDS_FLOOR}")
    if max_token_seconds < min_token_seconds:
        raise ValueError("max_token_seconds must not be below min_token_seconds")
    default_audiences = list(api_audiences)

    async def token_request(request: Request) -> Response:
        namespace = request.path_params["namespace"]
        name = request.path_params["name"]
        fields = _log_fields(request)
        fields["service_account"] = name

        credential = _bearer(request)
        caller = state.service_account_for_credential(credential) if credential else None
        if caller is None and credential and state.discover_service_accounts():
            caller = state.service_account_for_credential(credential)
        if caller is None:
            raise _ApiError(*_UNAUTHORIZED)
        fields["caller"] = caller
        if namespace != state.namespace:
            raise _ApiError(404, "NotFound", f'namespaces "{namespace}" not found', name=namespace)
        if name not in state.bootstrap:
            raise _ApiError(
                404,
                "NotFound",
                f'serviceaccounts "{name}" not found',
                name=name,
                kind="serviceaccounts",
            )
        if caller != name:
            raise _ApiError(
                403,
                "Forbidden",
                f'serviceaccounts "{name}" is forbidden: credential of "{caller}" cannot '
                "create tokens for it",
                name=name,
                kind="serviceaccounts",
            )

        spec = await _read_object(request, "TokenRequest")
        audiences = _audiences(spec, default_audiences)
        seconds = spec.get("expirationSeconds")
        if seconds is None:
            seconds = DEFAULT_EXPIRATION_SECONDS
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            raise _ApiError(422, "Invalid", "spec.expirationSeconds must be an integer")
        if seconds < min_token_seconds:
            raise _ApiError(
                422,
                "Invalid",
                f"spec.expirationSeconds: may not specify a duration less than "
                f"{min_token_seconds} seconds",
            )
        seconds = min(seconds, max_token_seconds)
        if spec.get("boundObjectRef"):
            raise _ApiError(422, "Invalid", "spec.boundObjectRef is not supported by this endpoint")

        issued = issue_token(state, name, audiences, seconds)
        fields["audiences"] = audiences
        fields["expiration_seconds"] = seconds
        created = issued.expires_at - timedelta(seconds=seconds)
        return JSONResponse(
            {
                "kind": "TokenRequest",
                "apiVersion": "authentication.k8s.io/v1",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "creationTimestamp": _rfc3339(created),
                },
                "spec": {
                    "audiences": audiences,
                    "expirationSeconds": seconds,
                    "boundObjectRef": None,
                },
                "status": {
                    "token": issued.token,
                    "expirationTimestamp": _rfc3339(issued.expires_at),
                },
            },
            status_code=201,
        )

    async def token_review(request: Request) -> Response:
        fields = _log_fields(request)
        bearer = _bearer(request)
        if bearer is None:
            raise _ApiError(*_UNAUTHORIZED)
        try:
            reviewer = verify_token(state, bearer)
        except InvalidTokenError as exc:
            fields["error"] = f"reviewer: {exc}"
            raise _ApiError(*_UNAUTHORIZED) from None
        fields["caller"] = reviewer.service_account

        spec = await _read_object(request, "TokenReview")
        token = spec.get("token")
        if not isinstance(token, str) or not token:
            raise _ApiError(400, "BadRequest", "token is required for TokenReview")
        requested = _audiences(spec, default_audiences)
        echo_spec: dict[str, Any] = {"token": token}
        if spec.get("audiences"):
            echo_spec["audiences"] = requested

        status: dict[str, Any]
        try:
            who = verify_token(state, token, requested)
        except InvalidTokenError as exc:
            fields["authenticated"] = False
            fields["review_error"] = str(exc)
            status = {"authenticated": False, "error": str(exc), "user": {}}
        else:
            fields["authenticated"] = True
            fields["service_account"] = who.service_account
            status = {
                "authenticated": True,
                "user": {"username": who.username, "uid": who.uid, "groups": who.groups},
                # As the apiserver: the audiences both the request and the token accept.
                "audiences": [a for a in requested if a in who.audiences],
            }
        return JSONResponse(
            {
                "kind": "TokenReview",
                "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"creationTimestamp": None},
                "spec": echo_spec,
                "status": status,
            },
            status_code=201,
        )

    async def discovery(request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": state.issuer,
                "jwks_uri": f"{state.issuer}/openid/v1/jwks",
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def jwks(request: Request) -> Response:
        return JSONResponse(state.jwks(), media_type="application/jwk-set+json")

    async def ok(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route(
                "/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
                token_request,
                methods=["POST"],
            ),
            Route("/apis/authentication.k8s.io/v1/tokenreviews", token_review, methods=["POST"]),
            Route("/.well-known/openid-configuration", discovery, methods=["GET"]),
            Route("/openid/v1/jwks", jwks, methods=["GET"]),
            Route("/healthz", ok, methods=["GET"]),
            Route("/readyz", ok, methods=["GET"]),
        ],
        middleware=[Middleware(AccessLog)],
        exception_handlers={_ApiError: _api_error_handler},
    )


class AccessLog:
    """ASGI middleware: one structured line per request, never a header or a body.

    Handlers add fields (ServiceAccount, caller, outcome) through a dict in the scope,
    because only they know which identity a request was about.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request and log it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fields: dict[str, Any] = {}
        scope[_LOG_FIELDS] = fields
        status = 500
        started = time.monotonic()

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            client = scope.get("client")
            event = log.warning if status >= 500 else log.info
            event(
                "request",
                method=scope.get("method"),
                path=scope.get("path"),
                status=status,
                duration_ms=round((time.monotonic() - started) * 1000, 1),
                client=client[0] if client else None,
                **fields,
            )


# --------------------------------------------------------------------------- server


def issuer_url(host: str, port: int) -> str:
    """Issuer URL for a listening address (IPv6 literals in brackets)."""
    try:
        is_v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_v6 = False
    return f"https://[{host}]:{port}" if is_v6 else f"https://{host}:{port}"


def _loopback_host(value: str) -> str:
    # The CA and server certificate only name loopback addresses, and nothing else
    # should ever reach a development identity issuer.
    if value == "localhost":
        return value
    try:
        if ipaddress.ip_address(value).is_loopback:
            return value
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{value!r} is not a loopback address")


def _token_seconds(value: str) -> int:
    seconds = int(value)
    if seconds < MIN_TOKEN_SECONDS_FLOOR:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_TOKEN_SECONDS_FLOOR}")
    return seconds


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m orders.devstack.identity_endpoint",
        description="Local Kubernetes identity endpoint (TokenRequest, TokenReview, OIDC).",
    )
    parser.add_argument("--state-dir", type=Path, required=True, help="keys, certs, creds")
    parser.add_argument("--host", type=_loopback_host, default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=0, help="TCP port; 0 picks a free one (see DIR/ready)"
    )
    parser.add_argument(
        "--min-token-seconds", type=_token_seconds, default=DEFAULT_MIN_TOKEN_SECONDS
    )
    parser.add_argument(
        "--max-token-seconds", type=_token_seconds, default=DEFAULT_MAX_TOKEN_SECONDS
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument(
        "--tls-cert", type=Path, help="server certificate chain (default: from own CA)"
    )
    parser.add_argument("--tls-key", type=Path, help="its key (with --tls-cert)")
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    if args.max_token_seconds < args.min_token_seconds:
        parser.error("--max-token-seconds must not be below --min-token-seconds")
    return args


def _bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket before the issuer URL is fixed, so port 0 works."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if host == "localhost":
        host, family = "127.0.0.1", socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn server that announces readiness only once its socket is serving."""

    def __init__(self, config: uvicorn.Config, state: IdentityState) -> None:
        super().__init__(config)
        self._state = state

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start serving, then write the ready file a supervisor waits for."""
        await super().startup(sockets=sockets)
        if not self.started or not sockets:
            return
        info = {
            "issuer": self._state.issuer,
            "port": sockets[0].getsockname()[1],
            "pid": os.getpid(),
            "ca_cert": str(self._state.ca_cert_file),
        }
        _write_private(self._state.ready_file, json.dumps(info).encode() + b"\n")
        log.info("ready", issuer=self._state.issuer, ready_file=str(self._state.ready_file))

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Withdraw the ready file first: uvicorn re-raises SIGTERM after serving."""
        self._state.ready_file.unlink(missing_ok=True)
        await super().shutdown(sockets=sockets)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the endpoint until SIGINT/SIGTERM.

    Args:
        argv: Command-line arguments (defaults to ``sys.argv[1:]``).

    Returns:
        Process exit status.
    """
    args = _parse_args(argv)
    olog.configure("identity-endpoint", args.log_level)
    sock = _bind(args.host, args.port)
    issuer = issuer_url(args.host, sock.getsockname()[1])
    state = IdentityState.load_or_create(args.state_dir, issuer)
    app = build_app(
        state,
        min_token_seconds=args.min_token_seconds,
        max_token_seconds=args.max_token_seconds,
    )
    config = uvicorn.Config(
        app,
        ssl_certfile=str(args.tls_cert or state.server_cert_file),
        ssl_keyfile=str(args.tls_key or state.server_key_file),
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
        log_level=args.log_level,
    )
    server = _Server(config, state)
    # A ready file left by a crashed run must not make a supervisor connect too early.
    state.ready_file.unlink(missing_ok=True)
    try:
        asyncio.run(server.serve(sockets=[sock]))
    finally:
        state.ready_file.unlink(missing_ok=True)
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
