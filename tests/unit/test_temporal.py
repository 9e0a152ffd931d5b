"""The TLS configuration every Temporal client is given."""

from __future__ import annotations

from datetime import UTC, datetime

from orders import temporal
from orders.contract import pki_names
from orders.security.certs import IssuedCert

CA = b"-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n"


def test_client_certificate_is_sent_with_its_chain() -> None:
    cert = IssuedCert(
        certificate="LEAF\n",
        private_key="KEY\n",
        chain="INTERMEDIATE\n",
        serial="01",
        not_after=datetime(2030, 1, 1, tzinfo=UTC),
    )
    config = temporal.tls_config(CA, pki_names.Server.TEMPORAL.value, cert)
    assert config.server_root_ca_cert == CA
    assert config.domain == pki_names.Server.TEMPORAL.value
    assert config.client_cert == b"LEAF\nINTERMEDIATE\n"
    assert config.client_private_key == b"KEY\n"


def test_without_a_certificate_only_the_server_is_verified() -> None:
    config = temporal.tls_config(CA, pki_names.Server.TEMPORAL.value)
    assert config.server_root_ca_cert == CA
    assert config.domain == pki_names.Server.TEMPORAL.value
    assert config.client_cert is None
    assert config.client_private_key is None
