"""TLS material of the local stack, under ``.orders/dev/tls/``.

Every server's certificate comes from Vault PKI (``orders.vault_pki``), and every client
trusts only the Vault root CA (``ca.pem``). OpenBao is the one exception at start-up: its
listener needs a certificate before its PKI can issue one, so the supervisor starts it
with a throwaway *bootstrap* certificate (its own one-day CA, generated here, trusted only
by the supervisor during bootstrap), then issues OpenBao's server certificate from the
intermediate, rewrites the listener's files and sends SIGHUP (OpenBao reloads listener
certificates on SIGHUP). The bootstrap CA key is never written to disk.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from orders import identities
from orders.devstack.state import write_private

BOOTSTRAP_DAYS: Final = 1


def bootstrap_server_cert(cert_file: Path, key_file: Path, ca_file: Path) -> None:
    """A one-day CA (key discarded) and an OpenBao server certificate signed by it."""
    now = datetime.now(UTC) - timedelta(minutes=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "orders bootstrap CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=BOOTSTRAP_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    name = identities.Server.OPENBAO.value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=BOOTSTRAP_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName(name),
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    write_private(ca_file, ca.public_bytes(pem).decode())
    write_private(cert_file, cert.public_bytes(pem).decode())
    write_private(
        key_file,
        key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    )
