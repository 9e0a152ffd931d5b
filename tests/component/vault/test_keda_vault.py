"""KEDA's operator policy on a real OpenBao (dev server): its two secrets, nothing else.

The ``keda-scaler`` policy (``vault/autoscaler/keda-scaler.hcl``, applied by
:func:`orders.vault.config.apply`, written here as it writes it) lets the overlay's
TriggerAuthentication obtain the ``keda-scaler`` certificate and Temporal JWT, fetched the
way KEDA fetches them; it cannot obtain any identity's certificate or token, credentials,
keys or another CN; and no identity's policy obtains the scaler's certificate or token.
"""

from __future__ import annotations

from collections.abc import Callable

import hvac
import jwt
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from orders.contract import identities, keda, pki_names, temporal_access, transit_names
from orders.vault import pki as vault_pki
from orders.vault import tokens as vault_tokens
from orders.vault.config import K8S_MOUNT, Ttls, keda_role
from orders.vault.people import PERMISSIONS_CLAIM
from orders.vault.policy import KEDA_POLICY_FILE, read_shipped
from tests.support.keda import certificates_only, resolve, scaler_login
from tests.support.openbao import DevVault, dev_vault

__all__ = ["dev_vault"]


@pytest.fixture(scope="module")
def root(dev_vault: DevVault) -> hvac.Client:
    client = hvac.Client(url=dev_vault.addr, token=dev_vault.root_token)
    if f"{K8S_MOUNT}/" not in client.sys.list_auth_methods()["data"]:
        client.sys.enable_auth_method("kubernetes", path=K8S_MOUNT)
    vault_pki.apply_pki(client, 60)
    vault_tokens.apply_temporal_tokens(client, 300)
    # What orders.vault.config.apply writes for KEDA (the rest of it needs Postgres).
    client.sys.create_or_update_policy(keda.PRINCIPAL, read_shipped(*KEDA_POLICY_FILE))
    client.write_data(f"auth/{K8S_MOUNT}/role/{keda.PRINCIPAL}", data=keda_role(Ttls()))
    return client


@pytest.fixture(scope="module")
def scaler(root: hvac.Client) -> hvac.Client:
    return scaler_login(root)


def test_the_overlays_fetches_give_the_scaler_its_certificate_and_token(
    scaler: hvac.Client,
) -> None:
    values = resolve(scaler)
    chain = x509.load_pem_x509_certificates(certificates_only(values["cert"]).encode())
    leaf = chain[0]
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == keda.PRINCIPAL
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.CLIENT_AUTH}
    # The intermediate travels with the leaf: the front trusts the root CA only.
    assert chain[1].subject == leaf.issuer
    assert "PRIVATE KEY" in values["key"]
    assert values["ca"].count("BEGIN CERTIFICATE") == 2
    claims = jwt.decode(values["apiKey"], options={"verify_signature": False})
    assert claims["aud"] == temporal_access.temporal_audience(keda.PRINCIPAL)
    assert claims[PERMISSIONS_CLAIM] == list(keda.temporal_permissions())


CLIENT, WORKFLOW = identities.ORDER_CLIENT, identities.ORDER_WORKFLOW
REFUSALS: dict[str, Callable[[hvac.Client], object]] = {
    "an identity's certificate": lambda v: v.write_data(
        f"{pki_names.PKI_MOUNT}/issue/{pki_names.pki_role(CLIENT)}",
        data={"common_name": CLIENT.name},
    ),
    "the front's server certificate": lambda v: v.write_data(
        f"{pki_names.PKI_MOUNT}/issue/{pki_names.PKI_TEMPORAL_ROLE}",
        data={"common_name": pki_names.Server.TEMPORAL.value},
    ),
    "the client's Temporal token": lambda v: v.read(f"identity/oidc/token/{CLIENT.name}"),
    "a worker's Temporal token": lambda v: v.read(f"identity/oidc/token/{WORKFLOW.name}"),
    "the admin token": lambda v: v.read(f"identity/oidc/token/{vault_tokens.ADMIN_ROLE}"),
    "database credentials": lambda v: v.read(f"database/creds/{identities.ORDER_VALIDATE.db_role}"),
    "a payload data key": lambda v: v.write_data(
        f"{transit_names.TRANSIT_MOUNT}/datakey/plaintext/{transit_names.PAYLOAD_KEY}"
    ),
    "its own policy": lambda v: v.sys.create_or_update_policy(
        keda.PRINCIPAL, 'path "*" { capabilities = ["sudo"] }'
    ),
}


@pytest.mark.parametrize("what", sorted(REFUSALS))
def test_the_scaler_obtains_nothing_else(scaler: hvac.Client, what: str) -> None:
    with pytest.raises(hvac.exceptions.Forbidden):
        REFUSALS[what](scaler)


def test_the_scalers_role_names_no_one_else(scaler: hvac.Client) -> None:
    for name in (identities.ORDER_CLIENT.name, pki_names.Server.TEMPORAL.value, "localhost"):
        with pytest.raises(hvac.exceptions.InvalidRequest):
            scaler.write_data(keda.PKI_ISSUE_PATH, data={"common_name": name})


def test_no_identity_obtains_the_scalers_certificate_or_token(
    dev_vault: DevVault, root: hvac.Client
) -> None:
    for ident in identities.ALL:
        client = hvac.Client(url=dev_vault.addr, token=dev_vault.token_for(ident))
        with pytest.raises(hvac.exceptions.Forbidden):
            client.write_data(keda.PKI_ISSUE_PATH, data={"common_name": keda.PRINCIPAL})
        with pytest.raises(hvac.exceptions.Forbidden):
            client.read(keda.TOKEN_PATH)
