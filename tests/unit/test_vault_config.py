"""vault/ as code: one policy file per identity, roles derived from the contract."""

from __future__ import annotations

import re

import pytest

from orders import identities
from orders.vault_config import (
    POLICY_DIR,
    Ttls,
    creation_statements,
    db_role,
    k8s_role,
    policy_path,
)


def test_one_policy_file_per_identity_and_no_strays() -> None:
    files = {p.stem for p in POLICY_DIR.glob("*.hcl")}
    assert files == {i.vault_policy for i in identities.ALL}


@pytest.mark.parametrize("identity", list(identities.ALL), ids=lambda i: i.name)
def test_policy_grants_only_own_database_paths(identity: identities.Identity) -> None:
    text = policy_path(identity).read_text()
    paths = re.findall(r'path\s+"([^"]+)"\s*{\s*capabilities\s*=\s*\[([^\]]*)\]', text)
    assert paths, "policy has no path stanzas"
    for path, caps in paths:
        if '"deny"' in caps:
            continue
        assert "*" not in path.split(f"/{identity.name}/")[0], f"wildcard before identity: {path}"
        assert identity.name in path, f"{identity.name} may use a path of someone else: {path}"
        assert '"sudo"' not in caps


def test_k8s_role_is_bound_to_its_service_account_namespace_and_audience() -> None:
    for ident in identities.ALL:
        role = k8s_role(ident, Ttls())
        assert role["bound_service_account_names"] == [ident.service_account]
        assert role["bound_service_account_namespaces"] == [identities.K8S_NAMESPACE]
        assert role["audience"] == identities.VAULT_AUDIENCE
        assert role["token_policies"] == [ident.vault_policy]


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
