"""The token Prometheus scrapes OpenBao's ``/v1/sys/metrics`` with: that path, read only.

OpenBao serves its telemetry to an authenticated caller (``unauthenticated_metrics_access``
stays off). The scraper's token carries one policy (``vault/setup/metrics-reader.hcl``:
``read`` on ``sys/metrics``), no ``default`` policy, and no parent (an orphan, so it
outlives nothing it should not). It is created through a token role, so the policy it may
carry is fixed by configuration, not by whoever mints it.
"""

from __future__ import annotations

from typing import Final

import hvac

from orders.vault.policy import read_shipped

POLICY: Final = "metrics-reader"
POLICY_FILE: Final = ("setup", f"{POLICY}.hcl")
SCRAPE_LIFETIME: Final = "768h"
"""OpenBao's default max TTL: the scrape token lives as long as any dev stack runs."""


def token_role() -> dict[str, object]:
    """Body of ``auth/token/roles/metrics-reader``."""
    return {
        "allowed_policies": [POLICY],
        "disallowed_policies": ["root"],
        "orphan": True,
        "renewable": False,
        "token_explicit_max_ttl": SCRAPE_LIFETIME,
        "token_no_default_policy": True,
        "token_type": "service",
    }


def apply_metrics_reader(client: hvac.Client) -> list[str]:
    """Write the policy and the token role (idempotent)."""
    client.sys.create_or_update_policy(POLICY, read_shipped(*POLICY_FILE))
    client.write_data(f"auth/token/roles/{POLICY}", data=token_role())
    return [f"sys/policies/acl/{POLICY}", f"auth/token/roles/{POLICY}"]


TOKEN_PREFIX: Final = f"auth/token/create/{POLICY}"
"""Creation path of every scrape token: revoking this prefix revokes them all and nothing else
(they are long-lived, since Prometheus cannot log in again, so ``orders dev down`` revokes them)."""


def mint_metrics_token(root: hvac.Client) -> str:
    """A scrape token (the caller writes it where only Prometheus's user can read it)."""
    resp = root.auth.token.create(
        role_name=POLICY, policies=[POLICY], no_default_policy=True, ttl=SCRAPE_LIFETIME
    )
    token: str = resp["auth"]["client_token"]
    return token
