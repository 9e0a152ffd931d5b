"""The identity endpoint's state: CA, TLS and signing keys, ServiceAccount credentials.

Everything lives in one directory (mode 0700), is created on first use and reused after,
so a restart keeps the CA Vault trusts and the credentials workers hold.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import uuid
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import structlog
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from orders.contract import identities
from orders.devstack import tls
from orders.devstack.identity_endpoint.errors import StateError
from orders.files import write_private

log = structlog.get_logger("orders.devstack.identity_endpoint")

_UID_NAMESPACE: Final = uuid.UUID("5b0f8d0e-4a36-5a6c-9a37-2f4c3e0d7a11")

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


def service_account_uid(name: str, namespace: str = identities.K8S_NAMESPACE) -> str:
    """Stable uid of a ServiceAccount: the same for a name on every run and machine.

    Vault's default alias source is the ServiceAccount uid, so a uid that changed across
    restarts would create a new identity entity for the same workload each time.
    """
    return str(uuid.uuid5(_UID_NAMESPACE, f"{namespace}/{name}"))


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


def server_sans(server_name: str | None = None) -> tuple[x509.GeneralName, ...]:
    """The server certificate's names: loopback, and ``server_name`` if it serves a network.

    A deployment's endpoint (docker-compose) is reached by its service's DNS name.
    """
    extra = (x509.DNSName(server_name),) if server_name else ()
    return (*_SERVER_SANS, *extra)


def _server_cert_usable(
    cert: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    wanted: tuple[x509.GeneralName, ...],
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
    return all(name in sans for name in wanted)


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
        server_name: str | None = None,
    ) -> IdentityState:
        """Load the state in ``state_dir``, creating whatever is missing.

        Existing keys and credentials are reused, so a restart keeps the CA that Vault
        trusts and the credentials workers hold. An expiring or mismatched server
        certificate is reissued from the existing CA.

        Args:
            state_dir: Directory to use; created with mode 0700.
            issuer: Issuer URL of the endpoint (``https://127.0.0.1:<port>``).
            service_accounts: ServiceAccounts to hold credentials for; defaults to every
                identity in :data:`orders.contract.identities.ALL`.
            server_name: DNS name the server certificate must carry besides loopback (a
                certificate without it is reissued).

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
            write_private(ca_key_path, tls.key_pem(ca_key))
            write_private(ca_cert_path, ca_cert.public_bytes(serialization.Encoding.PEM))
            log.info("created_ca", path=str(ca_cert_path))

        srv_key_path, srv_cert_path = root / SERVER_KEY, root / SERVER_CERT
        usable = False
        if srv_key_path.exists() and srv_cert_path.exists():
            srv_key = _load_ec_key(srv_key_path)
            srv_cert = x509.load_pem_x509_certificate(_read_private(srv_cert_path))
            usable = _server_cert_usable(srv_cert, srv_key, ca_cert, server_sans(server_name))
        if not usable:
            srv_key, srv_cert = tls.new_leaf(
                ca_key,
                ca_cert,
                "orders devstack identity",
                server_sans(server_name),
                _SERVER_LIFETIME,
            )
            write_private(srv_key_path, tls.key_pem(srv_key))
            write_private(srv_cert_path, srv_cert.public_bytes(serialization.Encoding.PEM))
            log.info("issued_server_certificate", path=str(srv_cert_path))

        signing_path = root / SIGNING_KEY
        if signing_path.exists():
            loaded = serialization.load_pem_private_key(_read_private(signing_path), None)
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise StateError(f"{signing_path} is not an RSA private key")
            signing_key = loaded
        else:
            signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            write_private(signing_path, tls.key_pem(signing_key))
            log.info("created_signing_key", path=str(signing_path))

        clients = root / CLIENTS_DIR
        _private_dir(clients)
        bootstrap: dict[str, str] = {}
        for name in names:
            path = clients / f"{name}.token"
            credential = _read_private(path).decode().strip() if path.exists() else ""
            if not credential:
                credential = secrets.token_urlsafe(32)
                write_private(path, credential.encode() + b"\n")
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
        write_private(path, secrets.token_urlsafe(32).encode() + b"\n")
    return path
