"""KEDA's Temporal scaler as a principal: one name for everything it holds.

The scaler (KEDA's operator, ServiceAccount :data:`OPERATOR_SERVICE_ACCOUNT` in namespace
:data:`OPERATOR_NAMESPACE`) logs into Vault with Kubernetes auth (role :data:`PRINCIPAL`,
audience ``vault``) and, with the policy :data:`PRINCIPAL` and nothing else, obtains the two
things the front and Temporal want from it, on every (re)build of a scaler:

* a client certificate from ``pki_int/issue/keda-scaler`` (CN :data:`PRINCIPAL`): the front's
  principal whose one grant is ``DescribeTaskQueue`` on the workers' queues
  (:func:`orders.contract.temporal_access.keda_access`);
* a Temporal JWT from ``identity/oidc/token/keda-scaler`` (``aud`` ``temporal:keda-scaler``,
  :func:`temporal_permissions`), which KEDA sends as its ``apiKey``: what an authorizing
  Temporal server (compose, kind) checks for ``DescribeTaskQueue``.

Temporal's ``default`` authorizer has no role narrower than ``read`` for that call, and
``read`` also lets a caller list workflows and read histories; the front is the gate that
keeps the scaler to the backlog (and it requires this token from this principal only).
"""

from __future__ import annotations

from typing import Final

from orders.contract import pki_names
from orders.contract.identities import TEMPORAL_NAMESPACE

PRINCIPAL: Final = pki_names.KEDA_CERT_NAME
"""The certificate's CN, and the name of its PKI role, identity-token role, Vault policy and
Kubernetes-auth role."""
OPERATOR_NAMESPACE: Final = "keda"
"""Namespace KEDA is installed in (its Helm chart's usual one)."""
OPERATOR_SERVICE_ACCOUNT: Final = "keda-operator"
"""KEDA's operator ServiceAccount: the one bound to the Kubernetes-auth role."""
OPERATOR_APP_LABEL: Final = "keda-operator"
"""The ``app`` label of the operator's pods (NetworkPolicies select them by it)."""
TOKEN_FILE: Final = "/var/run/secrets/keda-vault/token"  # noqa: S105 - a path
"""The operator's projected ServiceAccount token with ``aud: vault`` (KEDA 2.21+'s chart
projects it there; older charts: ``volumes.keda.extraVolumes``, ``keda-values.yaml``)."""
PKI_ISSUE_PATH: Final = f"{pki_names.PKI_MOUNT}/issue/{pki_names.PKI_KEDA_ROLE}"
"""Where the scaler obtains its certificate (``update``)."""
TOKEN_PATH: Final = f"identity/oidc/token/{PRINCIPAL}"
"""Where the scaler reads its Temporal JWT (``read``)."""


def temporal_permissions() -> tuple[str, ...]:
    """Permissions in the scaler's Temporal JWT: read on the application namespace only.

    ``DescribeTaskQueue`` is a namespace-scoped read in Temporal's method metadata, so the
    ``default`` authorizer admits ``<namespace>:read``; no ``write``, no ``system:``.
    """
    return (f"{TEMPORAL_NAMESPACE}:read",)
