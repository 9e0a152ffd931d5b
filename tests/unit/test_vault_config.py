"""vault/ as code: one policy file per identity, roles derived from the contract."""

from __future__ import annotations

import re

import pytest

from orders.contract import approval_policy, identities, pki_names, temporal_access, transit_names
from orders.vault.config import Ttls, creation_statements, db_role, k8s_role
from orders.vault.policy import policy_text, render_policy, shipped


def test_one_policy_file_per_identity_and_no_strays() -> None:
    files = {f.name.removesuffix(".hcl") for f in shipped("policies").iterdir()}
    assert files == {i.vault_policy for i in identities.ALL}


TRANSIT_PATHS = {
    "datakey": ("transit/datakey/plaintext/{}", '"update"'),
    "decrypt": ("transit/decrypt/{}", '"update"'),
    "encrypt": ("transit/encrypt/{}", '"update"'),
    "read-key": ("transit/keys/{}", '"read"'),
    "hmac": ("transit/hmac/{}", '"update"'),
    "encrypt-create": ("transit/encrypt/{}", '"create", "update"'),
    "erase": ("transit/keys/{}", '"update", "delete"'),
}
TOKEN_SELF = {
    ("auth/token/lookup-self", '"read"'),
    ("auth/token/renew-self", '"update"'),
    ("auth/token/revoke-self", '"update"'),
}
"""The only token paths (the roles carry no ``default`` policy): what VaultSession calls."""
STANZA = re.compile(r'path\s+"([^"]+)"\s*{\s*capabilities\s*=\s*\[([^\]]*)\]')


def expected_grants(identity: identities.Identity) -> set[tuple[str, str]]:
    """(path, capabilities) every allow stanza of the policy must be, from the contract."""
    grants: set[tuple[str, str]] = set(TOKEN_SELF)
    if identity.has_db_role:
        grants |= {
            (f"database/creds/{identity.db_role}", '"read"'),
            (f"sys/leases/renew/database/creds/{identity.db_role}/*", '"update"'),
            (f"sys/leases/revoke/database/creds/{identity.db_role}/*", '"update"'),
        }
    grants.add((f"{pki_names.PKI_MOUNT}/issue/{pki_names.pki_role(identity)}", '"update"'))
    if temporal_access.temporal_permissions(identity):
        grants.add((f"identity/oidc/token/{identity.temporal_token_role}", '"read"'))
    grants |= {(path, '"read"') for path in approval_policy.registry_reads(identity)}
    for key, ops in transit_names.transit_rights(identity).items():
        grants |= {(TRANSIT_PATHS[op][0].format(key), TRANSIT_PATHS[op][1]) for op in ops}
    return grants


@pytest.mark.parametrize("identity", list(identities.ALL), ids=lambda i: i.name)
def test_policy_file_grants_exactly_what_the_contract_says(identity: identities.Identity) -> None:
    assert allows(policy_text(identity)) == expected_grants(identity)


def allows(text: str) -> set[tuple[str, str]]:
    """The (path, capabilities) of every allow stanza of a policy."""
    stanzas = STANZA.findall(text)
    assert stanzas, "policy has no path stanzas"
    return {(path, caps.strip()) for path, caps in stanzas if '"deny"' not in caps}


@pytest.mark.parametrize("identity", list(identities.ALL), ids=lambda i: i.name)
def test_rendered_policy_grants_exactly_what_the_contract_says(
    identity: identities.Identity,
) -> None:
    text = render_policy(identity)
    assert allows(text) == expected_grants(identity)
    denies = {path for path, caps in STANZA.findall(text) if '"deny"' in caps}
    assert denies == (set() if identity.has_db_role else {"database/*"})


def test_k8s_role_is_bound_to_its_service_account_namespace_and_audience() -> None:
    for ident in identities.ALL:
        role = k8s_role(ident, Ttls())
        assert role["bound_service_account_names"] == [ident.service_account]
        assert role["bound_service_account_namespaces"] == [identities.K8S_NAMESPACE]
        assert role["audience"] == identities.VAULT_AUDIENCE
        assert role["token_policies"] == [ident.vault_policy]


def test_k8s_role_tokens_carry_no_default_policy() -> None:
    """``default`` would add lookup/renew of any lease id, cubbyhole, wrapping, ...: none."""
    for ident in identities.ALL:
        assert k8s_role(ident, Ttls())["token_no_default_policy"] is True


@pytest.mark.parametrize("identity", list(identities.ALL), ids=lambda i: i.name)
def test_no_policy_reaches_other_tokens_or_leases(identity: identities.Identity) -> None:
    """Token paths are ``*-self`` only; lease paths only under the identity's own DB role."""
    for text in (policy_text(identity), render_policy(identity)):
        for path, _ in allows(text):
            if path.startswith("auth/token/"):
                assert path in {p for p, _ in TOKEN_SELF}
            if path.startswith(("sys/leases/", "sys/renew", "sys/revoke")):
                assert identity.has_db_role
                assert path.startswith(
                    (
                        f"sys/leases/renew/database/creds/{identity.db_role}/",
                        f"sys/leases/revoke/database/creds/{identity.db_role}/",
                    )
                )


def test_db_role_grants_only_the_identity_group() -> None:
    for ident in identities.db_identities():
        statements = " ".join(creation_statements(ident))
        assert f'GRANT "{ident.db_group}" TO "{{{{name}}}}"' in statements
        assert "VALID UNTIL" in statements
        assert "SUPERUSER" not in statements.upper().replace("NOSUPERUSER", "")
        role = db_role(ident, Ttls(db_default=30, db_max=90, token=60, token_max=120))
        assert role["default_ttl"] == 30
        assert role["max_ttl"] == 90
        assert any("pg_terminate_backend" in s for s in role["revocation_statements"])
        assert any("DROP ROLE" in s for s in role["revocation_statements"])


def test_token_must_outlive_the_credentials_it_created() -> None:
    with pytest.raises(ValueError, match="token_max"):
        Ttls(db_default=60, db_max=600, token=60, token_max=300)


@pytest.mark.parametrize("identity", list(identities.ALL), ids=lambda i: i.name)
def test_no_policy_reaches_the_internode_ca_or_the_admin_certificate(
    identity: identities.Identity,
) -> None:
    """Only root issues Temporal's internode certificates and the temporal-admin one."""
    for text in (policy_text(identity), render_policy(identity)):
        paths = {path for path, _ in allows(text)}
        assert not any(p.startswith(pki_names.PKI_INTERNODE_MOUNT) for p in paths)
        assert not any("*" in p and p.startswith(pki_names.PKI_MOUNT) for p in paths)
        assert f"{pki_names.PKI_MOUNT}/issue/{pki_names.PKI_TEMPORAL_ADMIN_ROLE}" not in paths
        assert f"{pki_names.PKI_MOUNT}/issue/{pki_names.PKI_KEDA_ROLE}" not in paths
