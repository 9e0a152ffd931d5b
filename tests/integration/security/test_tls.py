"""TLS on every hop, with certificates from Vault PKI.

* Each identity can issue a client certificate for itself only: another identity's role,
  the server role, or its own role with another identity's name are refused by Vault.
* Every server of the stack presents a certificate chaining to the Vault root CA (and to
  nothing else a client trusts by default), and refuses plaintext connections.
"""

from __future__ import annotations

import socket
import ssl
from urllib.parse import urlsplit

import asyncpg
import httpx
import hvac
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from orders.contract import identities, pki_names
from orders.devstack.state import StackInfo, StackPaths
from orders.security import certs
from tests.support import stack as support

pytestmark = pytest.mark.integration

ALL = list(identities.ALL)


def _other(identity: identities.Identity) -> identities.Identity:
    return next(i for i in ALL if i is not identity)


@pytest.mark.parametrize("identity", ALL, ids=lambda i: i.name)
def test_identity_issues_a_client_cert_for_itself_only(
    stack: StackInfo, stack_paths: StackPaths, identity: identities.Identity
) -> None:
    client = support.login_as(stack, stack_paths, identity)
    own = certs.issue_client(client, identity)
    leaf = x509.load_pem_x509_certificate(own.certificate.encode())
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == identity.name
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [
        pki_names.cert_uri(identity)
    ]
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
    other = _other(identity)
    # Another identity's role: the policy refuses (403).
    with pytest.raises(hvac.exceptions.Forbidden):
        certs.issue_client(client, other)
    # The server roles: no identity may mint server certificates (nor the deployed
    # Temporal's frontend/internode one, nor the deployed UI's client one).
    with pytest.raises(hvac.exceptions.Forbidden):
        certs.issue_server(client, pki_names.Server.TEMPORAL)
    with pytest.raises(hvac.exceptions.Forbidden):
        certs.issue(client, pki_names.PKI_TEMPORAL_ROLE, pki_names.Server.TEMPORAL.value)
    with pytest.raises(hvac.exceptions.Forbidden):
        certs.issue(client, pki_names.PKI_TEMPORAL_UI_ROLE, pki_names.TEMPORAL_UI_CERT_NAME)
    # Nor Temporal's internode CA (frontend/internode, the front's client certificate), nor
    # the namespace step's temporal-admin client certificate.
    for issue_other in (
        certs.issue_internode,
        certs.issue_front_client,
        certs.issue_temporal_admin,
    ):
        with pytest.raises(hvac.exceptions.Forbidden):
            issue_other(client)
    # Its own role, but naming someone else: the role refuses the name (400).
    with pytest.raises(hvac.exceptions.InvalidRequest):
        certs.issue(client, pki_names.pki_role(identity), other.name)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        certs.issue(
            client,
            pki_names.pki_role(identity),
            identity.name,
            uri_sans=(pki_names.cert_uri(other),),
        )
    client.auth.token.revoke_self()


def _https_endpoints(stack: StackInfo) -> dict[str, str]:
    assert stack.codec_server_url is not None
    return {
        "openbao": stack.vault_addr,
        "identity-endpoint": stack.identity_endpoint,
        "codec-server": stack.codec_server_url,
    }


def _tls_endpoints(stack: StackInfo) -> dict[str, str]:
    return _https_endpoints(stack) | {
        "postgres": f"https://{stack.postgres_host}:{stack.postgres_port}",
        "temporal": f"https://{stack.temporal_address}",
        "temporal-ui": stack.ui_url,
    }


@pytest.mark.parametrize(
    "name", ["openbao", "identity-endpoint", "codec-server", "postgres", "temporal", "temporal-ui"]
)
def test_server_presents_a_vault_issued_certificate(stack: StackInfo, name: str) -> None:
    url = urlsplit(_tls_endpoints(stack)[name])
    assert url.scheme == "https"
    assert stack.ca_file is not None
    ctx = ssl.create_default_context(cafile=stack.ca_file)
    with (
        socket.create_connection((url.hostname, url.port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=url.hostname) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    leaf = x509.load_der_x509_certificate(der)
    issuer = leaf.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert issuer == "orders dev intermediate CA"
    # The system trust store knows nothing of the Vault CA.
    with (
        socket.create_connection((url.hostname, url.port), timeout=5) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        ssl.create_default_context().wrap_socket(raw, server_hostname=url.hostname)


@pytest.mark.parametrize("name", ["openbao", "identity-endpoint", "codec-server"])
def test_plaintext_http_is_refused(stack: StackInfo, name: str) -> None:
    url = _https_endpoints(stack)[name].replace("https://", "http://", 1)
    try:
        resp = httpx.get(f"{url}/healthz", timeout=5)
    except httpx.TransportError:
        return  # the TLS server dropped the plaintext connection
    # Go servers answer a plaintext request on a TLS port with a bare 400 and close.
    assert resp.status_code == 400, resp.text
    assert "HTTP request to an HTTPS server" in resp.text


async def test_postgres_refuses_plaintext_and_unverified_tls(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    client = support.login_as(stack, stack_paths, identities.ORDER_NOTIFY)
    cred = client.secrets.database.generate_credentials(identities.ORDER_NOTIFY.db_role)
    user, password = cred["data"]["username"], cred["data"]["password"]
    common = {
        "host": stack.postgres_host,
        "port": stack.postgres_port,
        "database": stack.database,
        "user": user,
        "password": password,
        "timeout": 10,
    }
    try:
        # Plaintext (and the classic SSLRequest negotiation) never reach Postgres.
        for ssl_arg in (False, "prefer"):
            with pytest.raises((asyncpg.PostgresError, ConnectionError, OSError)):
                await asyncpg.connect(**common, ssl=ssl_arg)
        # Direct TLS trusting only the system store: the Vault-issued chain is unknown.
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncpg.connect(**common, ssl=ssl.create_default_context(), direct_tls=True)
        # verify-full against the Vault root CA: in, as the Vault-issued user, over TLS.
        conn = await support.connect_pg(stack, user, password)
        try:
            assert await conn.fetchval("SELECT current_user") == user
        finally:
            await conn.close()
    finally:
        client.adapter.put(f"/v1/sys/leases/revoke/{cred['lease_id']}")
        client.auth.token.revoke_self()


def test_deployed_temporal_roles_issue_their_one_name_only(stack: StackInfo) -> None:
    """temporal-server: Temporal's public name (the front's), server usage only, nothing else;
    temporal-ui: the UI's client certificate only (the roles docker-compose and kind use)."""
    root = support.vault(stack, stack.root_token())
    server = certs.issue(root, pki_names.PKI_TEMPORAL_ROLE, pki_names.Server.TEMPORAL.value)
    leaf = x509.load_pem_x509_certificate(server.certificate.encode())
    eku = set(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert eku == {x509.oid.ExtendedKeyUsageOID.SERVER_AUTH}
    for name in (pki_names.Server.POSTGRES.value, "localhost", identities.ORDER_NOTIFY.name):
        with pytest.raises(hvac.exceptions.InvalidRequest):
            certs.issue(root, pki_names.PKI_TEMPORAL_ROLE, name)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        certs.issue(
            root,
            pki_names.PKI_TEMPORAL_ROLE,
            pki_names.Server.TEMPORAL.value,
            ip_sans=("127.0.0.1",),
        )
    ui = certs.issue(root, pki_names.PKI_TEMPORAL_UI_ROLE, pki_names.TEMPORAL_UI_CERT_NAME)
    leaf = x509.load_pem_x509_certificate(ui.certificate.encode())
    eku = set(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert eku == {x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH}
    with pytest.raises(hvac.exceptions.InvalidRequest):
        certs.issue(root, pki_names.PKI_TEMPORAL_UI_ROLE, pki_names.Server.TEMPORAL.value)


@pytest.mark.parametrize(
    ("role", "name"),
    [
        (pki_names.PKI_TEMPORAL_DB_ROLE, pki_names.TEMPORAL_DB_SERVER_NAME),
        (pki_names.PKI_CODEC_INGRESS_ROLE, pki_names.CODEC_PUBLIC_HOST),
    ],
)
def test_single_name_server_roles_issue_that_name_only(
    stack: StackInfo, role: str, name: str
) -> None:
    """temporal-db and codec-ingress (docker-compose, kind): their one name, server usage
    only; no other role issues those names, and those roles issue nothing else."""
    root = support.vault(stack, stack.root_token())
    leaf = x509.load_pem_x509_certificate(certs.issue(root, role, name).certificate.encode())
    eku = set(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert eku == {x509.oid.ExtendedKeyUsageOID.SERVER_AUTH}
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [name]
    assert san.get_values_for_type(x509.IPAddress) == []
    for other in (pki_names.Server.POSTGRES.value, "localhost", f"x.{name}"):
        with pytest.raises(hvac.exceptions.InvalidRequest):
            certs.issue(root, role, other)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        certs.issue(root, role, name, ip_sans=("127.0.0.1",))
    for other_role in (
        pki_names.PKI_SERVER_ROLE,
        pki_names.PKI_TEMPORAL_ROLE,
        pki_names.PKI_TEMPORAL_UI_ROLE,
    ):
        with pytest.raises(hvac.exceptions.InvalidRequest):
            certs.issue(root, other_role, name)
