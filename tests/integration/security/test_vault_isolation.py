"""Vault refuses every cross-identity move, and every bad ServiceAccount token.

Expected results come from the identity contract; the policies and roles applied to the
running OpenBao come from ``vault/``. Widening a policy file (e.g. ``database/creds/*``)
makes the cross-identity checks fail. The checks ``orders verify`` runs too live in
:mod:`orders.verify.vault_checks`.
"""

from __future__ import annotations

from functools import partial

import hvac
import jwt
import pytest

from orders.contract import identities
from orders.devstack.state import StackInfo, StackPaths
from orders.verify import vault_checks
from tests.support import stack as support

pytestmark = pytest.mark.integration

DB_IDENTITIES = list(identities.db_identities())
ALL = list(identities.ALL)
REFUSED = vault_checks.REFUSED


def _revoke(client: hvac.Client, lease_id: str) -> None:
    client.adapter.put(f"/v1/sys/leases/revoke/{lease_id}")


@pytest.mark.parametrize("identity", DB_IDENTITIES, ids=lambda i: i.name)
def test_identity_reads_only_its_own_credentials(
    stack: StackInfo, stack_paths: StackPaths, identity: identities.Identity
) -> None:
    client = support.login_as(stack, stack_paths, identity)
    # Its own credential only; nor Vault's database configuration or roles (grants leak).
    assert vault_checks.credential_problems(client, identity) == []
    client.auth.token.revoke_self()


@pytest.mark.parametrize("identity", [i for i in ALL if not i.has_db_role], ids=lambda i: i.name)
def test_identities_without_db_role_get_no_credential(
    stack: StackInfo, stack_paths: StackPaths, identity: identities.Identity
) -> None:
    client = support.login_as(stack, stack_paths, identity)
    assert vault_checks.credential_problems(client, identity) == []
    client.auth.token.revoke_self()


def test_service_account_cannot_log_in_as_another_role(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    tokens = {i.name: support.projected_token(stack, stack_paths, i) for i in ALL}
    assert vault_checks.cross_login_problems(partial(support.login, stack), tokens) == []


def test_own_token_logs_in(stack: StackInfo, stack_paths: StackPaths) -> None:
    ident = identities.ORDER_NOTIFY
    client = support.login(
        stack, ident.vault_role, support.projected_token(stack, stack_paths, ident)
    )
    info = client.auth.token.lookup_self()["data"]
    assert ident.vault_policy in info["policies"]
    assert info["meta"]["service_account_name"] == ident.service_account
    client.auth.token.revoke_self()


def test_wrong_audience_is_refused(stack: StackInfo, stack_paths: StackPaths) -> None:
    ident = identities.ORDER_VALIDATE
    token = support.forged_token(
        stack, stack_paths, ident.service_account, audiences=("https://kubernetes.default.svc",)
    )
    with pytest.raises(REFUSED):
        support.login(stack, ident.vault_role, token)


def test_expired_token_is_refused(stack: StackInfo, stack_paths: StackPaths) -> None:
    ident = identities.ORDER_VALIDATE
    token = support.forged_token(
        stack, stack_paths, ident.service_account, seconds=60, issued_ago=120
    )
    with pytest.raises(REFUSED):
        support.login(stack, ident.vault_role, token)


def test_token_signed_by_another_key_is_refused(stack: StackInfo, stack_paths: StackPaths) -> None:
    ident = identities.ORDER_VALIDATE
    genuine = support.forged_token(stack, stack_paths, ident.service_account)
    support.login(stack, ident.vault_role, genuine).auth.token.revoke_self()  # accepted
    forged = vault_checks.resign(genuine)
    with pytest.raises(REFUSED):
        support.login(stack, ident.vault_role, forged)
    assert vault_checks.resigned_problems(partial(support.login, stack), ident, genuine) == []


def test_token_for_another_namespace_is_refused(stack: StackInfo, stack_paths: StackPaths) -> None:
    ident = identities.ORDER_VALIDATE
    state = support.identity_state(stack, stack_paths)
    genuine = support.forged_token(stack, stack_paths, ident.service_account)
    claims = jwt.decode(genuine, options={"verify_signature": False})
    claims["sub"] = f"system:serviceaccount:default:{ident.service_account}"
    claims["kubernetes.io"]["namespace"] = "default"
    other_ns = jwt.encode(claims, state.signing_key, algorithm="RS256", headers={"kid": state.kid})
    with pytest.raises(REFUSED):
        support.login(stack, ident.vault_role, other_ns)


@pytest.mark.parametrize("identity", ALL, ids=lambda i: i.name)
def test_identity_token_has_only_its_own_policy(
    stack: StackInfo, stack_paths: StackPaths, identity: identities.Identity
) -> None:
    """No ``default`` policy: own token self-service only, no other lease, no cubbyhole."""
    client = support.login_as(stack, stack_paths, identity)
    info = client.auth.token.lookup_self()["data"]
    assert info["policies"] == [identity.vault_policy]
    assert client.auth.token.renew_self()["auth"]["policies"] == [identity.vault_policy]
    # Another identity's lease: ``default`` grants lookup and renew of any lease id (sent in
    # the body, so no path rule of the identity's own policy can scope it).
    owner = next(i for i in DB_IDENTITIES if i is not identity)
    other = support.login_as(stack, stack_paths, owner)
    lease_id = other.secrets.database.generate_credentials(owner.db_role)["lease_id"]
    try:
        with pytest.raises(hvac.exceptions.Forbidden):
            client.sys.read_lease(lease_id)
        with pytest.raises(hvac.exceptions.Forbidden):
            client.sys.renew_lease(lease_id)
        with pytest.raises(hvac.exceptions.Forbidden):
            client.write("cubbyhole/stash", value="x")
    finally:
        _revoke(other, lease_id)
        other.auth.token.revoke_self()
    client.auth.token.revoke_self()
    with pytest.raises(hvac.exceptions.Forbidden):
        client.auth.token.lookup_self()
