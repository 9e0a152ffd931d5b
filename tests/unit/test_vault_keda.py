"""KEDA's operator in Vault (offline): its login role, its policy, its Temporal token role.

The policy file grants exactly the scaler's two secrets (and its own token's self-service),
equal to the render from the contract; no identity's or person's policy reaches either secret;
the login role admits KEDA's operator ServiceAccount only, with ``aud: vault``; the token says
``<namespace>:read`` and nothing more. ``tests/component/vault/test_keda_vault.py`` checks the
same policy against a real OpenBao.
"""

from __future__ import annotations

import json

import pytest

from orders.contract import identities, keda, temporal_access
from orders.vault import people as vault_people
from orders.vault import tokens as vault_tokens
from orders.vault.config import Ttls, keda_role
from orders.vault.policy import (
    KEDA_POLICY_FILE,
    TOKEN_SELF_PATHS,
    read_shipped,
    render_keda_policy,
    shipped,
)
from tests.support.vault_acl import reaches, stanzas, workload_policies

KEDA_SECRETS = (keda.PKI_ISSUE_PATH, keda.TOKEN_PATH)


def test_policy_file_is_the_render_and_grants_exactly_the_scalers_secrets() -> None:
    text = read_shipped(*KEDA_POLICY_FILE)
    assert text == render_keda_policy()
    assert sorted((p, sorted(c)) for p, c in stanzas(text)) == sorted(
        [(p, [c]) for p, c in TOKEN_SELF_PATHS]
        + [(keda.PKI_ISSUE_PATH, ["update"]), (keda.TOKEN_PATH, ["read"])]
    )
    # Not an identity's: vault/policies/ holds those only.
    assert not shipped("policies", f"{keda.PRINCIPAL}.hcl").is_file()


@pytest.mark.parametrize("name", sorted(n for n in workload_policies() if n != keda.PRINCIPAL))
def test_no_other_policy_reaches_the_scalers_secrets(name: str) -> None:
    for path in KEDA_SECRETS:
        assert not reaches(workload_policies()[name], path), (name, path)


def test_login_role_admits_kedas_operator_only() -> None:
    role = keda_role(Ttls())
    assert role["bound_service_account_names"] == [keda.OPERATOR_SERVICE_ACCOUNT]
    assert role["bound_service_account_namespaces"] == [keda.OPERATOR_NAMESPACE]
    assert role["audience"] == identities.VAULT_AUDIENCE
    assert role["token_policies"] == [keda.PRINCIPAL]
    assert role["token_no_default_policy"] is True
    assert keda.PRINCIPAL not in identities.BY_NAME


def test_token_role_grants_read_on_the_namespace_for_minutes() -> None:
    body = vault_tokens.keda_role(300)
    claims = json.loads(body["template"])
    assert claims == {vault_people.PERMISSIONS_CLAIM: [f"{identities.TEMPORAL_NAMESPACE}:read"]}
    assert body["client_id"] == temporal_access.temporal_audience(keda.PRINCIPAL)
    assert body["key"] == temporal_access.TEMPORAL_TOKEN_KEY
    assert body["ttl"] == 300
