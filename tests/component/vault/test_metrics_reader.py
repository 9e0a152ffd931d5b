"""Scrape tokens: the metrics policy only, and all revoked by their creation path.

(The throwaway dev server serves ``sys/metrics`` without a token, so what a scrape token
may do is read from its policies, and whether it is alive from a root lookup.)
"""

from __future__ import annotations

import hvac
import pytest

from orders.vault import metrics_reader
from tests.support.openbao import DevVault, dev_vault

__all__ = ["dev_vault"]


def test_scrape_tokens_carry_one_policy_and_die_by_their_prefix(dev_vault: DevVault) -> None:
    root = hvac.Client(url=dev_vault.addr, token=dev_vault.root_token)
    metrics_reader.apply_metrics_reader(root)
    token = metrics_reader.mint_metrics_token(root)
    bystander = root.auth.token.create(policies=["default"], ttl="1h")["auth"]["client_token"]
    assert root.auth.token.lookup(token)["data"]["policies"] == [metrics_reader.POLICY]
    with pytest.raises(hvac.exceptions.Forbidden):
        hvac.Client(url=dev_vault.addr, token=token).read("sys/mounts")

    root.sys.revoke_prefix(metrics_reader.TOKEN_PREFIX)

    with pytest.raises(hvac.exceptions.Forbidden, match="bad token"):
        root.auth.token.lookup(token)
    assert root.auth.token.lookup(bystander)["data"]["id"] == bystander
