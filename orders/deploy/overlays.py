"""Two optional kustomize overlays, generated from the identity contract.

* ``k8s/overlays/keda/``: the kind overlay plus one KEDA ``ScaledObject`` per worker
  Deployment, scaling it on *its own* task queue's backlog (KEDA's ``temporal`` scaler,
  KEDA ≥ 2.18: ``endpoint``, ``namespace``, ``taskQueue``, ``queueTypes``,
  ``targetQueueSize``, ``activationTargetQueueSize``, ``tlsServerName``), authenticated
  as the front's ``keda-scaler`` principal with nothing static: the ``TriggerAuthentication``
  ``temporal-keda`` is ``hashiCorpVault`` (KEDA ≥ 2.18), Kubernetes auth as KEDA's operator
  (role ``keda-scaler``, its projected ``aud: vault`` token), fetching a fresh client
  certificate (``ca``, ``cert``, ``key``: one ``pki_int/issue/keda-scaler``) and the
  scaler's Temporal JWT (``apiKey``) each time KEDA builds a scaler; NetworkPolicies let the
  operator's pods reach the front and OpenBao; ``keda-values.yaml`` is the Helm values the
  operator needs for that (Vault's CA and TLS name, the projected token). The replica floor
  stays 2 (the PodDisruptionBudget's ``minAvailable: 1`` keeps holding).
* ``k8s/overlays/external/``: the production shape — the base only (workers, codec
  server, migrations; no server of ours), pointed at an existing Temporal and Vault and
  Postgres through ``values.env`` (a ``configMapGenerator`` whose values ``replacements``
  copy into ``orders-worker-env`` and into three egress NetworkPolicies, one per outside
  service, each selecting exactly the identities the contract lets reach it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from orders.contract import identities, keda, pki_names
from orders.contract.identities import Identity
from orders.deploy import front, tls
from orders.vault import config as vault_config

KEDA_DIR: Final = Path("k8s/overlays/keda")
EXTERNAL_DIR: Final = Path("k8s/overlays/external")
_NAME: Final = "app.kubernetes.io/name"
_PART: Final = {"app.kubernetes.io/part-of": "hardened-orders"}
NS: Final = identities.K8S_NAMESPACE
KEDA_AUTH: Final = "temporal-keda"
KEDA_NAMESPACE: Final = keda.OPERATOR_NAMESPACE
VAULT_ADDRESS: Final = f"https://{front.OPENBAO_APP}.{front.INFRA}.svc:{front.OPENBAO_PORT}"
"""OpenBao as KEDA's operator dials it (its certificate's name is set by ``keda-values.yaml``)."""
VAULT_CA_SECRET: Final = "orders-ca"  # noqa: S105 - a Secret's name (a CA, nothing secret)
"""Secret in ``keda`` holding ``ca.crt`` (the Vault root CA): the chart's ``hashiCorpVaultTLS``
mounts it at :data:`VAULT_CA_DIR`."""
VAULT_CA_DIR: Final = "/hashicorp-vaultcerts"
KEDA_VALUES: Final = "keda-values.yaml"
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


PKI_SECRETS: Final = (("ca", "ca_chain"), ("cert", "certificate"), ("key", "private_key"))
"""TriggerAuthentication parameter <- key of one ``pki_int/issue/keda-scaler`` answer. KEDA
fetches one certificate for all three (same path and data). ``pem_bundle``: ``certificate``
then holds the leaf *and* the intermediate (and the key, which Go's key-pair loader skips), so
the front, which trusts the root CA, can verify the chain."""


def trigger_authentication() -> dict[str, Any]:
    """KEDA's Vault login as the ``keda-scaler`` principal: a fresh certificate and token.

    Kubernetes auth (role ``keda-scaler``, bound to ``keda/keda-operator`` with ``aud: vault``)
    with the operator's projected token; the policy it gets issues only the ``keda-scaler``
    certificate (the front lets that CN ``DescribeTaskQueue`` the workers' queues, nothing
    else) and reads only the ``keda-scaler`` Temporal JWT (``apiKey``: ``orders:read``, what
    an authorizing Temporal wants for that call; the front requires it from this principal).
    """
    pki = {
        "path": keda.PKI_ISSUE_PATH,
        "type": "pki",
        "pkiData": {"commonName": keda.PRINCIPAL, "format": "pem_bundle"},
    }
    secrets = [{"parameter": p, "key": k, **pki} for p, k in PKI_SECRETS]
    secrets.append(
        {"parameter": "apiKey", "key": "token", "path": keda.TOKEN_PATH, "type": "secret"}
    )
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": {
            "name": KEDA_AUTH,
            "namespace": NS,
            "labels": dict(_PART),
            "annotations": {"hardened-orders/front-principal": keda.PRINCIPAL},
        },
        "spec": {
            "hashiCorpVault": {
                "address": VAULT_ADDRESS,
                "authentication": "kubernetes",
                "mount": vault_config.K8S_MOUNT,
                "role": keda.PRINCIPAL,
                "credential": {"serviceAccount": keda.TOKEN_FILE},
                "secrets": secrets,
            }
        },
    }


def _from_keda() -> dict[str, Any]:
    return {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": KEDA_NAMESPACE}},
        "podSelector": {"matchLabels": {"app": keda.OPERATOR_APP_LABEL}},
    }


def keda_openbao_policy() -> dict[str, Any]:
    """The KEDA operator's pods may reach OpenBao's port (its login and two secrets)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "openbao-keda", "namespace": front.INFRA, "labels": dict(_PART)},
        "spec": {
            "podSelector": {"matchLabels": {_NAME: front.OPENBAO_APP}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [_from_keda()],
                    "ports": [{"protocol": "TCP", "port": front.OPENBAO_PORT}],
                }
            ],
        },
    }


def keda_values() -> dict[str, Any]:
    """Helm values of KEDA's chart (≤ 2.20) for the Vault login above.

    Vault's CA (Secret :data:`VAULT_CA_SECRET`, ``hashiCorpVaultTLS``) and the name on
    OpenBao's certificate (KEDA's Vault client reads ``VAULT_CACERT`` and
    ``VAULT_TLS_SERVER_NAME``), and the operator's ServiceAccount token projected with
    ``aud: vault`` at :data:`orders.contract.keda.TOKEN_FILE` (the chart of KEDA 2.21+
    projects that one itself: drop ``volumes`` there).
    """
    token_dir = str(Path(keda.TOKEN_FILE).parent)
    projected = {
        "serviceAccountToken": {
            "audience": identities.VAULT_AUDIENCE,
            "expirationSeconds": 600,
            "path": Path(keda.TOKEN_FILE).name,
        }
    }
    return {
        "hashiCorpVaultTLS": VAULT_CA_SECRET,
        "env": [
            {"name": "VAULT_CACERT", "value": f"{VAULT_CA_DIR}/{tls.CA_SECRET_KEY}"},
            {"name": "VAULT_TLS_SERVER_NAME", "value": pki_names.Server.OPENBAO.value},
        ],
        "volumes": {
            "keda": {
                "extraVolumes": [{"name": "keda-vault", "projected": {"sources": [projected]}}],
                "extraVolumeMounts": [
                    {"name": "keda-vault", "mountPath": token_dir, "readOnly": True}
                ],
            }
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
                    "from": [_from_keda()],
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
    objs["networkpolicy-openbao-keda.yaml"] = keda_openbao_policy()
    files = {KEDA_DIR / name: obj for name, obj in objs.items()}
    files[KEDA_DIR / "kustomization.yaml"] = _kustomization(resources=["../kind", *objs])
    # Not a resource of the overlay: the values `helm install keda` takes.
    files[KEDA_DIR / KEDA_VALUES] = keda_values()
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
