"""vault/ as applied to the running OpenBao: equal to the files, and re-applying is a no-op."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import Client

from orders.contract import identities
from orders.db.bootstrap import bootstrap
from orders.devstack.lifecycle import stack_apply_config
from orders.devstack.state import StackInfo, StackPaths
from orders.models import Outcome
from orders.vault.config import Ttls, apply, k8s_role
from orders.vault.people import CODEC_CLIENT
from orders.vault.policy import policy_text
from tests.support import stack as support
from tests.support.stack import TEST_TTLS

pytestmark = pytest.mark.integration

TTLS = Ttls(
    db_default=TEST_TTLS.db_ttl,
    db_max=TEST_TTLS.db_max_ttl,
    token=TEST_TTLS.token_ttl,
    token_max=TEST_TTLS.token_max_ttl,
)


def snapshot(stack: StackInfo) -> dict[str, object]:
    root = support.vault(stack, stack.root_token())
    snap: dict[str, object] = {}
    for ident in identities.ALL:
        snap[f"policy/{ident.name}"] = root.sys.read_policy(ident.vault_policy)["data"]["rules"]
        role = root.read(f"auth/kubernetes/role/{ident.vault_role}")["data"]
        snap[f"k8s/{ident.name}"] = {k: role[k] for k in k8s_role(ident, TTLS)}
    for ident in identities.db_identities():
        role = root.read(f"database/roles/{ident.db_role}")["data"]
        snap[f"db/{ident.name}"] = (
            role["creation_statements"],
            role["default_ttl"],
            role["max_ttl"],
        )
    # A re-apply keeps the codec server's login callback (browser sign-in keeps working).
    codec = root.read(f"identity/oidc/client/{CODEC_CLIENT}")["data"]
    snap["oidc/codec-server"] = sorted(codec["redirect_uris"])
    return snap


def test_applied_policies_equal_the_files(stack: StackInfo) -> None:
    snap = snapshot(stack)
    for ident in identities.ALL:
        assert snap[f"policy/{ident.name}"] == policy_text(ident)
        role = snap[f"k8s/{ident.name}"]
        assert isinstance(role, dict)
        assert role["bound_service_account_names"] == [ident.service_account]
        assert role["audience"] == identities.VAULT_AUDIENCE


async def test_reapplying_is_idempotent_and_workers_keep_working(
    stack: StackInfo, stack_paths: StackPaths, client: Client
) -> None:
    before = snapshot(stack)
    root = support.vault(stack, stack.root_token())
    # As `orders dev up` does on every start. Vault already has the connection, so the
    # rotated admin password must be kept: bootstrap leaves it, apply does not resend it.
    await bootstrap(stack.postgres_admin_dsn, None)
    config = stack_apply_config(
        stack_paths,
        stack.identity_endpoint,
        Path(stack.identity_ca_file).read_text(),
        stack.postgres_port,
        TTLS,
        stack.codec_server_url,
    )
    for _ in range(2):
        await asyncio.to_thread(apply, root, config)
    assert snapshot(stack) == before

    result = await support.complete(client, support.make_order("reapply"))
    assert result.outcome is Outcome.COMPLETED
