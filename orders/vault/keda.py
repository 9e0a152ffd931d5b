"""KEDA's operator in Vault: one Kubernetes-auth role, one policy, nothing static.

KEDA's ``hashiCorpVault`` TriggerAuthentication (``k8s/overlays/keda``) logs in with the
operator's projected ServiceAccount token (``aud: vault``) to ``auth/kubernetes/role/
keda-scaler``, bound to ``keda/keda-operator`` only. The token it gets carries the
``keda-scaler`` policy (``vault/autoscaler/keda-scaler.hcl``, equal to
:func:`orders.vault.policy.render_keda_policy` by a unit test) and no ``default``: it may issue
the ``keda-scaler`` client certificate and read the ``keda-scaler`` Temporal JWT
(:mod:`orders.vault.tokens`), nothing of any identity's. No identity's policy reaches either.
"""

from __future__ import annotations

from typing import Any

import hvac

from orders.contract import identities, keda
from orders.vault.policy import KEDA_POLICY_FILE, read_shipped


def k8s_role(token_ttl: int, token_max_ttl: int) -> dict[str, Any]:
    """Body of ``auth/kubernetes/role/keda-scaler``: KEDA's operator, audience ``vault``."""
    return {
        "bound_service_account_names": [keda.OPERATOR_SERVICE_ACCOUNT],
        "bound_service_account_namespaces": [keda.OPERATOR_NAMESPACE],
        "audience": identities.VAULT_AUDIENCE,
        "alias_name_source": "serviceaccount_name",
        "token_policies": [keda.PRINCIPAL],
        "token_ttl": token_ttl,
        "token_max_ttl": token_max_ttl,
        "token_type": "service",
        "token_no_default_policy": True,
    }


def apply_keda(client: hvac.Client, mount: str, token_ttl: int, token_max_ttl: int) -> list[str]:
    """Write the ``keda-scaler`` policy and its Kubernetes-auth role; idempotent.

    Args:
        client: A client allowed to configure Vault (root in dev).
        mount: The Kubernetes auth mount.
        token_ttl: Lifetime of the Vault token a login gets (s).
        token_max_ttl: Its maximum lifetime with renewals (s).

    Returns:
        The Vault paths written.
    """
    client.sys.create_or_update_policy(keda.PRINCIPAL, read_shipped(*KEDA_POLICY_FILE))
    client.write_data(
        f"auth/{mount}/role/{keda.PRINCIPAL}", data=k8s_role(token_ttl, token_max_ttl)
    )
    return [f"sys/policies/acl/{keda.PRINCIPAL}", f"auth/{mount}/role/{keda.PRINCIPAL}"]
