"""Two optional kustomize overlays, generated from the identity contract.

* ``k8s/overlays/keda/``: the kind overlay plus one KEDA ``ScaledObject`` per worker
  Deployment, scaling it on *its own* task queue's backlog (KEDA's ``temporal`` scaler,
  KEDA ≥ 2.17: ``endpoint``, ``namespace``, ``taskQueue``, ``queueTypes``,
  ``targetQueueSize``, ``activationTargetQueueSize``, ``tlsServerName``), authenticated
  to the authorization front by mTLS (``TriggerAuthentication`` ``temporal-keda``: ``ca``,
  ``cert``, ``key`` from the Secret ``keda-temporal-client``), and a NetworkPolicy letting
  the KEDA operator's pods reach the front. The replica floor stays 2 (the
  PodDisruptionBudget's ``minAvailable: 1`` keeps holding).
* ``k8s/overlays/external/``: the production shape — the base only (workers, codec
  server, migrations; no server of ours), pointed at an existing Temporal and Vault and
  Postgres through ``values.env`` (a ``configMapGenerator`` whose values ``replacements``
  copy into ``orders-worker-env`` and into three egress NetworkPolicies, one per outside
  service, each selecting exactly the identities the contract lets reach it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from orders.contract import identities, pki_names
from orders.contract.identities import Identity
from orders.deploy import front

KEDA_DIR: Final = Path("k8s/overlays/keda")
EXTERNAL_DIR: Final = Path("k8s/overlays/external")
_NAME: Final = "app.kubernetes.io/name"
_PART: Final = {"app.kubernetes.io/part-of": "hardened-orders"}
NS: Final = identities.K8S_NAMESPACE
KEDA_AUTH: Final = "temporal-keda"
KEDA_SECRET: Final = "keda-temporal-client"  # noqa: S105 - a Secret's name
KEDA_NAMESPACE: Final = "keda"
MIN_REPLICAS: Final = 2
MAX_REPLICAS: Final = 10
TARGET_BACKLOG: Final = "5"
"""Tasks waiting per replica before KEDA adds one."""


def _kustomization(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", **fields}


def scaled_object(identity: Identity) -> dict[str, Any]:
    """``identity``'s Deployment scaled on its own task queue's backlog."""
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": identity.name, "namespace": NS, "labels": {_NAME: identity.name}},
        "spec": {
            "scaleTargetRef": {"name": identity.name},
            "minReplicaCount": MIN_REPLICAS,
            "maxReplicaCount": MAX_REPLICAS,
            "triggers": [
                {
                    "type": "temporal",
                    "authenticationRef": {"name": KEDA_AUTH},
                    "metadata": {
                        "endpoint": f"{front.NAME}.{front.INFRA}.svc:{front.PORT}",
                        "namespace": identities.TEMPORAL_NAMESPACE,
                        "taskQueue": identity.task_queue,
                        "queueTypes": "workflow" if identity.workflow else "activity",
                        "targetQueueSize": TARGET_BACKLOG,
                        "activationTargetQueueSize": "0",
                        "tlsServerName": pki_names.Server.TEMPORAL.value,
                    },
                }
            ],
        },
    }


KEDA_ISSUE: Final = (
    f"bao write {pki_names.PKI_MOUNT}/issue/{pki_names.PKI_KEDA_ROLE} "
    f"common_name={pki_names.KEDA_CERT_NAME}"
)
"""How the operator issues KEDA's certificate (the role names that CN only, client usage)."""


def trigger_authentication() -> dict[str, Any]:
    """MTLS to the front as the ``keda-scaler`` principal, whose one grant is the backlog.

    The Secret holds a certificate from ``pki_int/roles/keda-scaler`` (CN ``keda-scaler``,
    which :func:`orders.contract.temporal_access.keda_access` lets ``DescribeTaskQueue`` the
    workers' queues and nothing else); the annotations say so where the object is read.
    """
    notes = {
        "hardened-orders/front-principal": pki_names.KEDA_CERT_NAME,
        "hardened-orders/issue-with": KEDA_ISSUE,
    }
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": {
            "name": KEDA_AUTH,
            "namespace": NS,
            "labels": dict(_PART),
            "annotations": notes,
        },
        "spec": {
            "secretTargetRef": [
                {"parameter": p, "name": KEDA_SECRET, "key": k}
                for p, k in (("ca", "ca.crt"), ("cert", "tls.crt"), ("key", "tls.key"))
            ]
        },
    }


def keda_front_policy() -> dict[str, Any]:
    """The KEDA operator's pods may reach the front's port (and nothing else of orders-infra)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "temporal-front-keda",
            "namespace": front.INFRA,
            "labels": dict(_PART),
        },
        "spec": {
            "podSelector": {"matchLabels": {_NAME: front.NAME}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": KEDA_NAMESPACE}
                            },
                            "podSelector": {"matchLabels": {"app": "keda-operator"}},
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": front.PORT}],
                }
            ],
        },
    }


def keda_files() -> dict[Path, dict[str, Any]]:
    """``k8s/overlays/keda/``: the kind overlay, the scalers, the auth and the policy."""
    objs = {f"scaledobject-{i.name}.yaml": scaled_object(i) for i in identities.workers()}
    objs["triggerauthentication.yaml"] = trigger_authentication()
    objs["networkpolicy-front-keda.yaml"] = keda_front_policy()
    files = {KEDA_DIR / name: obj for name, obj in objs.items()}
    files[KEDA_DIR / "kustomization.yaml"] = _kustomization(resources=["../kind", *objs])
    return files


# --------------------------------------------------------------------------- external

VALUES: Final = "orders-external"
"""The ConfigMap generated from ``values.env``."""
EXTERNAL_SERVICES: Final = (
    ("temporal", "TEMPORAL_CIDR", "TEMPORAL_PORT", lambda i: i.is_worker),
    ("vault", "VAULT_CIDR", "VAULT_PORT", lambda i: True),
    ("postgres", "DB_CIDR", "DB_PORT", lambda i: i.has_db_role),
)
"""Outside service, its CIDR and port keys in ``values.env``, who may reach it."""
ENV_VALUES: Final = {
    "ORDERS_TEMPORAL_ADDRESS": "TEMPORAL_ADDRESS",
    "ORDERS_TEMPORAL_TLS_SERVER_NAME": "TEMPORAL_TLS_SERVER_NAME",
    "ORDERS_TEMPORAL_NAMESPACE": "TEMPORAL_NAMESPACE",
    "ORDERS_VAULT_ADDR": "VAULT_ADDR",
    "ORDERS_DB_HOST": "DB_HOST",
    "ORDERS_DB_PORT": "DB_PORT",
}
"""``orders-worker-env`` key <- ``values.env`` key."""


def external_policy(service: str, ids: list[str]) -> dict[str, Any]:
    """Egress from exactly ``ids`` to the outside ``service`` (CIDR/port: replacements)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"external-{service}", "namespace": NS, "labels": dict(_PART)},
        "spec": {
            "podSelector": {
                "matchExpressions": [{"key": _NAME, "operator": "In", "values": sorted(ids)}]
            },
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"ipBlock": {"cidr": "0.0.0.0/32"}}],  # replaced from values.env
                    "ports": [{"protocol": "TCP", "port": 1}],  # replaced from values.env
                }
            ],
        },
    }


def _replacement(key: str, kind: str, name: str, path: str) -> dict[str, Any]:
    return {
        "source": {"kind": "ConfigMap", "name": VALUES, "fieldPath": f"data.{key}"},
        "targets": [{"select": {"kind": kind, "name": name}, "fieldPaths": [path]}],
    }


def external_files() -> dict[Path, dict[str, Any]]:
    """``k8s/overlays/external/``: the base, the policies and the replacements.

    ``values.env`` beside them is the operator's file (committed with example values, not
    generated).
    """
    workloads = [*identities.workers(), identities.CODEC_SERVER, identities.ORDER_MIGRATE]
    objs = {
        f"networkpolicy-external-{svc}.yaml": external_policy(
            svc, [i.name for i in workloads if who(i)]
        )
        for svc, _, _, who in EXTERNAL_SERVICES
    }
    replacements = [
        _replacement(src, "ConfigMap", "orders-worker-env", f"data.{dst}")
        for dst, src in ENV_VALUES.items()
    ]
    for svc, cidr, port, _ in EXTERNAL_SERVICES:
        name = f"external-{svc}"
        replacements += [
            _replacement(cidr, "NetworkPolicy", name, "spec.egress.0.to.0.ipBlock.cidr"),
            _replacement(port, "NetworkPolicy", name, "spec.egress.0.ports.0.port"),
        ]
    files = {EXTERNAL_DIR / n: o for n, o in objs.items()}
    files[EXTERNAL_DIR / "kustomization.yaml"] = _kustomization(
        resources=["../../base", *objs],
        configMapGenerator=[
            {
                "name": VALUES,
                "namespace": NS,
                "envs": ["values.env"],
                "options": {"disableNameSuffixHash": True, "labels": dict(_PART)},
            }
        ],
        replacements=replacements,
    )
    return files
