"""Temporal's internode CA and the namespace step's certificate, on a real OpenBao (dev server).

``pki_internode`` is a root of its own: nothing the Vault root CA vouches for verifies against
it, and nothing it issues verifies against the Vault root CA. Its two roles and the
``temporal-admin`` role on ``pki_int`` issue their one name with their one usage set; no
identity's policy (the literal ``vault/policies`` files), nor the setup step's or a person's
policy, may issue from any of them: only root.
"""

from __future__ import annotations

import hvac
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from orders.contract import identities, pki_names
from orders.security import certs
from orders.vault import pki as vault_pki
from orders.vault.policy import read_shipped
from tests.support.openbao import DevVault, dev_vault

__all__ = ["dev_vault"]

SERVER_AND_CLIENT = {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
CLIENT = {ExtendedKeyUsageOID.CLIENT_AUTH}
OTHER_POLICIES = {
    "temporal-admin-setup": ("setup", "temporal-admin.hcl"),
    "orders-person": ("people", "orders-person.hcl"),
}


@pytest.fixture(scope="module")
def root(dev_vault: DevVault) -> hvac.Client:
    client = hvac.Client(url=dev_vault.addr, token=dev_vault.root_token)
    vault_pki.apply_pki(client, 60)
    vault_pki.apply_internode_pki(client, "1h")
    return client


def _leaf(cert: certs.IssuedCert) -> x509.Certificate:
    return x509.load_pem_x509_certificate(cert.certificate.encode())


def _cn(cert: x509.Certificate) -> str:
    value = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    return value if isinstance(value, str) else value.decode()


def _eku(cert: x509.Certificate) -> set[x509.ObjectIdentifier]:
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def _signed_by(leaf: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        leaf.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def test_internode_ca_is_a_root_of_its_own(root: hvac.Client) -> None:
    internode = x509.load_pem_x509_certificate(vault_pki.internode_ca_pem(root).encode())
    vault_root = x509.load_pem_x509_certificate(vault_pki.root_ca_pem(root).encode())
    assert internode.issuer == internode.subject  # self-signed
    assert _cn(internode) == vault_pki.INTERNODE_ROOT_CN
    assert internode.public_key() != vault_root.public_key()
    assert not _signed_by(internode, vault_root)
    # What the internode CA issues chains to it and to nothing of the Vault root's, and back.
    frontend = certs.issue_internode(root)
    assert frontend.chain == ""  # issued by the root itself: the leaf is the whole chain
    assert frontend.fullchain.count("BEGIN CERTIFICATE") == 1
    assert _signed_by(_leaf(frontend), internode)
    intermediate = x509.load_pem_x509_certificate(certs.issue_temporal_admin(root).chain.encode())
    for leaf in (_leaf(certs.issue_temporal_admin(root)), intermediate):
        assert not _signed_by(leaf, internode)
    ident = _leaf(certs.issue_client(root, identities.ORDER_WORKFLOW))
    assert not _signed_by(ident, internode)


def test_internode_roles_issue_their_one_name_and_usage(root: hvac.Client) -> None:
    frontend = _leaf(certs.issue_internode(root))
    assert _cn(frontend) == pki_names.TEMPORAL_FRONTEND_NAME
    san = frontend.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [pki_names.TEMPORAL_FRONTEND_NAME]
    assert san.get_values_for_type(x509.IPAddress) == []
    assert _eku(frontend) == SERVER_AND_CLIENT
    front = _leaf(certs.issue_front_client(root))
    assert _cn(front) == pki_names.TEMPORAL_FRONT_CERT_NAME
    assert _eku(front) == CLIENT
    admin = _leaf(certs.issue_temporal_admin(root))
    assert _cn(admin) == pki_names.TEMPORAL_ADMIN_CERT_NAME
    assert _eku(admin) == CLIENT
    lifetime = admin.not_valid_after_utc - admin.not_valid_before_utc
    assert lifetime.total_seconds() <= 16 * 60  # 15 minutes (+ Vault's backdating)
    internode, inter = pki_names.PKI_INTERNODE_MOUNT, pki_names.PKI_MOUNT
    refused = [
        (internode, pki_names.PKI_INTERNODE_ROLE, pki_names.Server.TEMPORAL.value, ()),
        (internode, pki_names.PKI_INTERNODE_ROLE, "localhost", ()),
        (internode, pki_names.PKI_INTERNODE_ROLE, identities.ORDER_CLIENT.name, ()),
        (internode, pki_names.PKI_INTERNODE_ROLE, pki_names.TEMPORAL_FRONTEND_NAME, ("::1",)),
        (internode, pki_names.PKI_FRONT_ROLE, pki_names.TEMPORAL_FRONTEND_NAME, ()),
        (internode, pki_names.PKI_FRONT_ROLE, identities.ORDER_CLIENT.name, ()),
        (inter, pki_names.PKI_TEMPORAL_ADMIN_ROLE, identities.ORDER_CLIENT.name, ()),
        (inter, pki_names.PKI_TEMPORAL_ADMIN_ROLE, pki_names.Server.TEMPORAL.value, ()),
        (inter, pki_names.PKI_KEDA_ROLE, identities.ORDER_CLIENT.name, ()),
        (inter, pki_names.PKI_KEDA_ROLE, "localhost", ()),
    ]
    for mount, role, name, ips in refused:
        with pytest.raises(hvac.exceptions.InvalidRequest):
            certs.issue(root, role, name, ip_sans=ips, mount=mount)
    # No role of the Vault root CA's intermediate can put the internode names on a certificate.
    for role in (pki_names.PKI_SERVER_ROLE, pki_names.PKI_TEMPORAL_ROLE):
        for name in (pki_names.TEMPORAL_FRONTEND_NAME, pki_names.TEMPORAL_FRONT_CERT_NAME):
            with pytest.raises(hvac.exceptions.InvalidRequest):
                certs.issue(root, role, name)


def _token(dev_vault: DevVault, root: hvac.Client, policy: str) -> hvac.Client:
    answer = root.auth.token.create(policies=[policy], ttl="10m", no_parent=True)
    return hvac.Client(url=dev_vault.addr, token=answer["auth"]["client_token"])


def test_only_root_issues_internode_front_admin_and_keda_certificates(
    dev_vault: DevVault, root: hvac.Client
) -> None:
    for name, path in OTHER_POLICIES.items():
        root.sys.create_or_update_policy(name, read_shipped(*path))
    policies = [i.vault_policy for i in identities.ALL] + sorted(OTHER_POLICIES)
    for policy in policies:
        client = _token(dev_vault, root, policy)
        for issue in (certs.issue_internode, certs.issue_front_client, certs.issue_temporal_admin):
            with pytest.raises(hvac.exceptions.Forbidden):
                issue(client)
        # Nor KEDA's certificate (the front's backlog-reading principal).
        with pytest.raises(hvac.exceptions.Forbidden):
            certs.issue(client, pki_names.PKI_KEDA_ROLE, pki_names.KEDA_CERT_NAME)
        # Nor reconfigure the internode CA, nor read its roles.
        with pytest.raises(hvac.exceptions.Forbidden):
            client.write_data(
                f"{pki_names.PKI_INTERNODE_MOUNT}/roles/x", data=vault_pki.front_role()
            )
        client.auth.token.revoke_self()


def test_reapplying_is_idempotent_and_drops_stray_roles(root: hvac.Client) -> None:
    ca_before = vault_pki.internode_ca_pem(root)
    mount = pki_names.PKI_INTERNODE_MOUNT
    root.write_data(f"{mount}/roles/stray", data=vault_pki.internode_role())
    written = vault_pki.apply_internode_pki(root, "1h")
    assert f"-{mount}/roles/stray" in written
    assert not any("generate" in path for path in written)
    assert vault_pki.internode_ca_pem(root) == ca_before
    listed = root.list(f"{mount}/roles")["data"]["keys"]
    assert sorted(listed) == sorted([pki_names.PKI_INTERNODE_ROLE, pki_names.PKI_FRONT_ROLE])
    assert (
        pki_names.PKI_TEMPORAL_ADMIN_ROLE
        in root.list(f"{pki_names.PKI_MOUNT}/roles")["data"]["keys"]
    )
