"""Certificate summaries for ``orders dev status``, and the PKI roles from the contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from orders.contract import identities, pki_names
from orders.devstack import tls
from orders.security import certs
from orders.vault import pki as vault_pki


def test_time_left_reads_in_days_hours_minutes() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    summary = certs.CertSummary("x", "CN=x", "01", now + timedelta(days=3, hours=4))
    assert summary.time_left(now) == "3d 4h"
    summary = certs.CertSummary("x", "CN=x", "01", now + timedelta(minutes=12, seconds=5))
    assert summary.time_left(now) == "12m 5s"
    summary = certs.CertSummary("x", "CN=x", "01", now - timedelta(seconds=1))
    assert summary.time_left(now) == "expired"


def test_summarize_reads_subject_serial_and_expiry(tmp_path: Path) -> None:
    cert_file, key_file, ca_file = tmp_path / "s.crt", tmp_path / "s.key", tmp_path / "ca.pem"
    tls.bootstrap_server_cert(cert_file, key_file, ca_file)
    leaf = x509.load_pem_x509_certificate(cert_file.read_bytes())
    summary = certs.summarize("server openbao", cert_file.read_text())
    assert summary.subject == f"CN={pki_names.Server.OPENBAO.value}"
    assert int(summary.serial.replace(":", ""), 16) == leaf.serial_number
    assert summary.not_after == leaf.not_valid_after_utc
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("identity", list(identities.ALL), ids=lambda i: i.name)
def test_client_role_names_only_its_identity(identity: identities.Identity) -> None:
    role = vault_pki.client_role(identity, 30)
    assert role["allowed_domains"] == [identity.name]
    assert role["allowed_uri_sans"] == [pki_names.cert_uri(identity)]
    assert not role["allow_subdomains"]
    assert not role["allow_glob_domains"]
    assert not role["allow_ip_sans"]
    assert not role["allow_localhost"]
    assert role["client_flag"]
    assert not role["server_flag"]
    assert role["ttl"] == role["max_ttl"] == 30


def test_server_role_is_for_the_stack_servers_only() -> None:
    role = vault_pki.server_role()
    assert set(role["allowed_domains"]) == {s.value for s in pki_names.Server}
    assert role["server_flag"]
    assert not role["client_flag"]
    assert pki_names.PKI_SERVER_ROLE not in {pki_names.pki_role(i) for i in identities.ALL}


def test_internode_front_and_admin_roles_name_one_thing_each() -> None:
    roles = {
        pki_names.TEMPORAL_FRONTEND_NAME: (vault_pki.internode_role(), True, True),
        pki_names.TEMPORAL_FRONT_CERT_NAME: (vault_pki.front_role(), False, True),
        pki_names.TEMPORAL_ADMIN_CERT_NAME: (vault_pki.temporal_admin_role(), False, True),
        pki_names.KEDA_CERT_NAME: (vault_pki.keda_role(), False, True),
    }
    for name, (role, server, client) in roles.items():
        assert role["allowed_domains"] == [name]
        assert (role["server_flag"], role["client_flag"]) == (server, client)
        assert not role["allow_localhost"]
        assert not role["allow_ip_sans"]
        assert not role["allow_subdomains"]
        assert not role["allow_glob_domains"]
    contract = {pki_names.pki_role(i) for i in identities.ALL}
    assert pki_names.PKI_TEMPORAL_ADMIN_ROLE not in contract
    assert pki_names.PKI_KEDA_ROLE not in contract
    assert pki_names.PKI_INTERNODE_MOUNT not in (pki_names.PKI_MOUNT, pki_names.PKI_ROOT_MOUNT)
