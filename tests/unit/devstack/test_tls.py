"""The one certificate builder of the dev stack: CA and leaves (server or client)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from orders.devstack import tls


def test_ca_signs_leaves_only() -> None:
    key, ca = tls.new_ca("test CA", timedelta(days=2))
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca
    assert constraints.path_length == 0
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    ca.verify_directly_issued_by(ca)
    assert ca.not_valid_before_utc <= datetime.now(UTC) - tls.BACKDATE + timedelta(seconds=5)
    assert ca.not_valid_after_utc - datetime.now(UTC) > timedelta(days=1, hours=23)
    # The PEM is the CA's own key (unencrypted PKCS#8 for the files servers read).
    loaded = serialization.load_pem_private_key(tls.key_pem(key), password=None)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert loaded.public_key().public_bytes(*spki) == ca.public_key().public_bytes(*spki)


@pytest.mark.parametrize(
    "usage", [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], ids=str
)
def test_leaf_chains_to_its_ca_with_the_asked_usage(usage: x509.ObjectIdentifier) -> None:
    ca_key, ca = tls.new_ca("test CA", timedelta(days=2))
    sans = [x509.DNSName("a.example"), x509.UniformResourceIdentifier("spiffe://x/y")]
    _, leaf = tls.new_leaf(ca_key, ca, "leaf", sans, timedelta(hours=1), usage)
    leaf.verify_directly_issued_by(ca)
    assert leaf.issuer == ca.subject
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [usage]
    assert list(leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value) == sans
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest


def test_leaf_without_names_has_no_san_extension() -> None:
    ca_key, ca = tls.new_ca("test CA", timedelta(days=2))
    _, leaf = tls.new_leaf(ca_key, ca, "leaf", (), timedelta(hours=1))
    with pytest.raises(x509.ExtensionNotFound):
        leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_a_leaf_does_not_chain_to_another_ca_of_the_same_name() -> None:
    ca_key, ca = tls.new_ca("test CA", timedelta(days=2))
    _, other = tls.new_ca("test CA", timedelta(days=2))
    _, leaf = tls.new_leaf(ca_key, ca, "leaf", (), timedelta(hours=1))
    with pytest.raises(InvalidSignature):
        leaf.verify_directly_issued_by(other)
