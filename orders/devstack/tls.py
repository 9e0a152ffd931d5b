"""TLS material of the local stack, under ``.orders/dev/tls/``.

Every server's certificate comes from Vault PKI (``orders.vault.pki``), and every client
trusts only the Vault root CA (``ca.pem``). OpenBao is the one exception at start-up: its
listener needs a certificate before its PKI can issue one, so the supervisor starts it
with a throwaway *bootstrap* certificate (its own one-day CA, generated here, trusted only
by the supervisor during bootstrap), then issues OpenBao's server certificate from the
intermediate, rewrites the listener's files and sends SIGHUP (OpenBao reloads listener
certificates on SIGHUP). The bootstrap CA key is never written to disk.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from orders.contract import pki_names
from orders.files import write_private

BOOTSTRAP_DAYS: Final = 1
BACKDATE: Final = timedelta(minutes=5)
"""Certificates start this long before they are made, so a clock a little behind accepts them."""


def key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    """PKCS#8 PEM of a private key, unencrypted.

    No passphrase: it would have to live next to the key, which protects nothing.
    """
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def new_ca(
    common_name: str, lifetime: timedelta
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed P-256 CA that may sign leaves only (path length 0).

    Args:
        common_name: The CA's subject and issuer CN.
        lifetime: How long it is valid from now.

    Returns:
        The CA's key and certificate.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def new_leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    common_name: str,
    sans: Sequence[x509.GeneralName],
    lifetime: timedelta,
    usage: x509.ObjectIdentifier = ExtendedKeyUsageOID.SERVER_AUTH,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A P-256 end-entity certificate signed by a CA from :func:`new_ca`.

    Args:
        ca_key: The CA's key.
        ca_cert: The CA's certificate (issuer name and key identifier).
        common_name: The leaf's CN.
        sans: Subject alternative names (none: no SAN extension).
        lifetime: How long it is valid from now.
        usage: Extended key usage (server or client authentication).

    Returns:
        The leaf's key and certificate.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def bootstrap_server_cert(cert_file: Path, key_file: Path, ca_file: Path) -> None:
    """A one-day CA (key discarded) and an OpenBao server certificate signed by it."""
    lifetime = timedelta(days=BOOTSTRAP_DAYS)
    ca_key, ca = new_ca("orders bootstrap CA", lifetime)
    name = pki_names.Server.OPENBAO.value
    sans = (
        x509.DNSName(name),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    )
    key, cert = new_leaf(ca_key, ca, name, sans, lifetime)
    pem = serialization.Encoding.PEM
    write_private(ca_file, ca.public_bytes(pem).decode())
    write_private(cert_file, cert.public_bytes(pem).decode())
    write_private(key_file, key_pem(key).decode())
