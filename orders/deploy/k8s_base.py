"""``k8s/base``: the Kubernetes objects of every identity, one file each.

Every workload an identity runs gets the same hardening from one function
(:func:`pod_spec`): non-root numeric UID/GID, read-only root filesystem with ``/tmp`` as the
only writable path, no privilege escalation, no capabilities, the runtime's seccomp
profile, no ServiceAccount token automounted, and instead a projected token with audience
``vault`` that expires after ten minutes (the kubelet refreshes it).
"""

# Paths below are inside containers ("/tmp" is each pod's own emptyDir or tmpfs) and
# "token" names are file names: not the host temp dirs or secrets ruff's S105/S108 mean.
# ruff: noqa: S108

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from orders.contract import identities, pki_names
from orders.contract.identities import Identity, Kind
from orders.deploy import people_auth, pods, tls
from orders.deploy.common import (
    CODEC_PORT,
    GID,
    IMAGE_TAG,
    POSTGRES,
    PROJECT,
    PSA_VERSION,
    TEMPORAL,
    TOKEN_DIR,
    TOKEN_EXPIRATION_SECONDS,
    TOKEN_NAME,
    UID,
    VAULT,
    Peer,
    codec_tls_env,
    identity_env,
    image,
    peers,
    worker_env,
    workloads,
)

_COMPONENT: Final = {
    Kind.WORKFLOW: "workflow-worker",
    Kind.ACTIVITY: "activity-worker",
    Kind.CODEC: "codec-server",
    Kind.MIGRATE: "migration",
    Kind.CLIENT: "client",
    Kind.OPERATOR: "operator",
}


def selector(identity: Identity) -> dict[str, str]:
    """Labels that select ``identity``'s pods (stable: never include the version)."""
    return {"app.kubernetes.io/name": identity.name, "app.kubernetes.io/part-of": PROJECT}


def labels(identity: Identity) -> dict[str, str]:
    """The ``app.kubernetes.io/*`` labels of everything named after ``identity``."""
    return {
        "app.kubernetes.io/name": identity.name,
        "app.kubernetes.io/instance": f"{PROJECT}-{identity.name}",
        "app.kubernetes.io/component": _COMPONENT[identity.kind],
        "app.kubernetes.io/part-of": PROJECT,
        "app.kubernetes.io/version": IMAGE_TAG,
        "app.kubernetes.io/managed-by": "kustomize",
    }


def metadata(name: str, identity: Identity | None = None, **extra: Any) -> dict[str, Any]:
    """Object metadata in the application namespace."""
    meta: dict[str, Any] = {"name": name, "namespace": identities.K8S_NAMESPACE}
    if identity is not None:
        meta["labels"] = labels(identity)
    meta.update(extra)
    return meta


ENV_CONFIGMAP: Final = "orders-worker-env"


def container_security_context() -> dict[str, Any]:
    """Container hardening; every field is asserted by tests/unit/deploy."""
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": GID,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context() -> dict[str, Any]:
    """Pod hardening (fsGroup makes the projected token readable by the non-root user)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": GID,
        "fsGroup": GID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _kind_codec_env() -> list[dict[str, Any]]:
    """The codec server's people settings on kind; its client id from the Job's ConfigMap."""
    env: list[dict[str, Any]] = [
        {"name": k, "value": v} for k, v in people_auth.codec_env(KIND_PEOPLE).items()
    ]
    ref = {"name": OIDC_CONFIGMAP, "key": people_auth.CODEC_CLIENT_ID_FILE}
    env.append({"name": "ORDERS_CODEC_CLIENT_ID", "valueFrom": {"configMapKeyRef": ref}})
    return env


def container(identity: Identity) -> dict[str, Any]:
    """The one container of ``identity``'s pods."""
    c: dict[str, Any] = {
        "name": _COMPONENT[identity.kind],
        "image": image(),
        "imagePullPolicy": "IfNotPresent",
    }
    if identity.is_worker:
        c |= {"command": ["python", "-m", "workers"], "args": [identity.name]}
    elif identity.kind is Kind.CODEC:
        # `orders codec-server` is the codec server of the payload-protection issue.
        c |= {
            "command": ["orders", "codec-server"],
            "args": ["--host", "0.0.0.0", "--port", str(CODEC_PORT)],  # noqa: S104 - pod IP
            "ports": [{"name": "https", "containerPort": CODEC_PORT, "protocol": "TCP"}],
        }
    elif identity.kind is Kind.MIGRATE:
        c["command"] = ["python", "-m", "orders.deploy.setup", "migrate"]
    else:
        raise ValueError(f"{identity.name} runs no pods")
    env = [
        *({"name": k, "value": v} for k, v in identity_env(identity).items()),
        {"name": "ORDERS_TOKEN_FILE", "value": f"{TOKEN_DIR}/{TOKEN_NAME}"},
    ]
    mounts = [
        {"name": "vault-token", "mountPath": TOKEN_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": CA_CONFIGMAP, "mountPath": tls.CA_DIR, "readOnly": True},
    ]
    if identity.kind is Kind.CODEC:
        env += [{"name": k, "value": v} for k, v in codec_tls_env().items()]
        env += _kind_codec_env()
        mounts.append({"name": tls.CODEC.volume, "mountPath": tls.TLS_DIR, "readOnly": True})
    c |= {
        "env": env,
        "envFrom": [{"configMapRef": {"name": ENV_CONFIGMAP}}],
        "securityContext": container_security_context(),
        "volumeMounts": mounts,
    }
    if identity.is_worker:
        c |= {
            "resources": pods.resources("50m", "160Mi", "1", "384Mi"),
            # The worker listens on no port: exec probes read the files it keeps fresh.
            "startupProbe": pods.exec_probe("live", 5, 24),
            "livenessProbe": pods.exec_probe("live", 15, 3),
            "readinessProbe": pods.exec_probe("ready", 10, 3),
        }
    elif identity.kind is Kind.CODEC:
        c |= {
            "resources": pods.resources("50m", "128Mi", "500m", "256Mi"),
            # Ready (and started) when /healthz says its Vault session is up. Liveness stays
            # a TCP connect: during a Vault outage /healthz answers 503 and the server waits
            # for Vault by design, which a restart would not cure.
            "startupProbe": pods.http_probe(5, 24),
            "readinessProbe": pods.http_probe(5, 3),
            "livenessProbe": pods.tcp_probe(15, 3),
        }
    else:
        c["resources"] = pods.resources("50m", "128Mi", "1", "256Mi")
    return c


CA_CONFIGMAP: Final = "orders-ca"
"""ConfigMap with the Vault root CA only (``ca.pem``), written by the overlay's PKI Job."""


def _tls_volumes(identity: Identity) -> list[dict[str, Any]]:
    """The CA (public) for everyone; the codec server's own key pair, owner-read only."""
    volumes: list[dict[str, Any]] = [
        {
            "name": CA_CONFIGMAP,
            "configMap": {
                "name": CA_CONFIGMAP,
                "items": [{"key": tls.CA_FILE, "path": tls.CA_FILE}],
                "defaultMode": 0o444,
            },
        }
    ]
    if identity.kind is Kind.CODEC:
        volumes.append(
            {
                "name": tls.CODEC.volume,
                "secret": {"secretName": tls.CODEC.volume, "defaultMode": 0o400},
            }
        )
    return volumes


def pod_spec(identity: Identity, *, restart_policy: str = "Always") -> dict[str, Any]:
    """Pod spec of ``identity``: its own ServiceAccount, projected Vault token, hardening."""
    return {
        "serviceAccountName": identity.service_account,
        # No API token in the pod: the only credential is the audience-bound Vault token.
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": restart_policy,
        "terminationGracePeriodSeconds": 45,
        "securityContext": pod_security_context(),
        "containers": [container(identity)],
        "volumes": [
            {
                "name": "vault-token",
                "projected": {
                    "defaultMode": 0o440,
                    "sources": [
                        {
                            "serviceAccountToken": {
                                "audience": identities.VAULT_AUDIENCE,
                                "expirationSeconds": TOKEN_EXPIRATION_SECONDS,
                                "path": TOKEN_NAME,
                            }
                        }
                    ],
                },
            },
            {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
            *_tls_volumes(identity),
        ],
    }


# --------------------------------------------------------------------------- objects


def namespace() -> dict[str, Any]:
    """The application namespace, enforcing the ``restricted`` Pod Security Standard."""
    psa = {}
    for mode in ("enforce", "audit", "warn"):
        psa[f"pod-security.kubernetes.io/{mode}"] = "restricted"
        psa[f"pod-security.kubernetes.io/{mode}-version"] = PSA_VERSION
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": identities.K8S_NAMESPACE,
            "labels": {"app.kubernetes.io/part-of": PROJECT, **psa},
        },
    }


def env_configmap() -> dict[str, Any]:
    """Shared ``ORDERS_*`` settings, pointing at the servers the overlay provides."""
    # OpenBao and Postgres are dialled by their certificates' names (the overlay maps them
    # to their Services with hostAliases); Temporal by its Service, checked against its
    # certificate's name (ORDERS_TEMPORAL_TLS_SERVER_NAME).
    env = worker_env(
        temporal=f"{TEMPORAL.host}:{TEMPORAL.port}",
        vault=f"https://{pki_names.Server.OPENBAO.value}:{VAULT.port}",
        db_host=pki_names.Server.POSTGRES.value,
        db_port=POSTGRES.port,
    )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(ENV_CONFIGMAP, labels={"app.kubernetes.io/part-of": PROJECT}),
        "data": env,
    }


def service_account(identity: Identity) -> dict[str, Any]:
    """``identity``'s ServiceAccount: the name Vault's Kubernetes-auth role is bound to."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(identity.service_account, identity),
        "automountServiceAccountToken": False,
    }


def deployment(identity: Identity) -> dict[str, Any]:
    """Deployment of a worker or the codec server."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(identity.name, identity),
        "spec": {
            "replicas": 2,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector(identity)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": labels(identity)},
                "spec": pod_spec(identity)
                | {"topologySpreadConstraints": pods.spread(selector(identity))},
            },
        },
    }


def migrate_job() -> dict[str, Any]:
    """Schema migrations as the ``order-migrate`` identity (retried until Vault is set up)."""
    ident = identities.ORDER_MIGRATE
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(ident.name, ident),
        "spec": {
            "backoffLimit": 12,
            "activeDeadlineSeconds": 1800,
            "template": {
                "metadata": {"labels": labels(ident)},
                "spec": pod_spec(ident, restart_policy="Never"),
            },
        },
    }


def pod_disruption_budget(identity: Identity) -> dict[str, Any]:
    """Keep one pod of every Deployment through voluntary disruptions (drains, upgrades)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(identity.name, identity),
        "spec": {"minAvailable": 1, "selector": {"matchLabels": selector(identity)}},
    }


def default_deny() -> dict[str, Any]:
    """Nothing in the namespace may send or receive anything not allowed explicitly."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata("default-deny", labels={"app.kubernetes.io/part-of": PROJECT}),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def _peer_rule(peer: Peer) -> dict[str, Any]:
    return {
        "to": [
            {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": peer.namespace}
                },
                "podSelector": {"matchLabels": dict(peer.pod_labels)},
            }
        ],
        "ports": [{"protocol": p, "port": peer.port} for p in peer.protocols],
    }


INGRESS_NAMESPACE: Final = "ingress-nginx"


def network_policy(identity: Identity) -> dict[str, Any]:
    """Egress to exactly :func:`peers`; ingress only to the codec server, from the ingress."""
    ingress: list[dict[str, Any]] = []
    if identity.kind is Kind.CODEC:
        ingress.append(
            {
                # Browsers call the codec (the UI's codec endpoint is fetched client-side),
                # so only the ingress controller forwards to it.
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": INGRESS_NAMESPACE}
                        }
                    },
                ],
                "ports": [{"protocol": "TCP", "port": CODEC_PORT}],
            }
        )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(identity.name, identity),
        "spec": {
            "podSelector": {"matchLabels": selector(identity)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": [_peer_rule(p) for p in peers(identity)],
        },
    }


CODEC_HOST: Final = pki_names.CODEC_PUBLIC_HOST
KIND_VAULT_PORT: Final = 18200
"""Loopback port ``k8s/kind.sh demo`` forwards to OpenBao: where browsers log in on kind."""
KIND_PEOPLE: Final = people_auth.Endpoints(
    vault_public=f"https://127.0.0.1:{KIND_VAULT_PORT}",
    vault_internal=f"https://{pki_names.Server.OPENBAO.value}:{VAULT.port}",
    ui_public="http://127.0.0.1:8080",
    codec_public=f"https://{CODEC_HOST}",
)
"""People's OIDC on kind: browsers reach OpenBao through the port-forward, the UI through
``kubectl port-forward svc/temporal-ui 8080``, the codec server through its Ingress; pods
reach OpenBao by its certificate's name (hostAliases; the codec server's JWKS and token
URLs default to ``ORDERS_VAULT_ADDR``)."""
OIDC_CONFIGMAP: Final = "orders-oidc-clients"
"""ConfigMap (namespace ``orders``) where the vault-configure Job publishes the codec
server's OIDC client id (public: the tokens' audience)."""


def codec_service() -> dict[str, Any]:
    """ClusterIP Service in front of the codec server."""
    ident = identities.CODEC_SERVER
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(ident.name, ident),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(ident),
            "ports": [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}],
        },
    }


def codec_ingress() -> dict[str, Any]:
    """Ingress for browsers: the UI's codec endpoint (needs an ingress controller)."""
    ident = identities.CODEC_SERVER
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        # The controller speaks HTTPS to the codec server and verifies its certificate
        # (name and CA: the Secret holds the Vault root CA only).
        "metadata": metadata(
            ident.name,
            ident,
            annotations={
                "nginx.ingress.kubernetes.io/backend-protocol": "HTTPS",
                "nginx.ingress.kubernetes.io/proxy-ssl-verify": "on",
                "nginx.ingress.kubernetes.io/proxy-ssl-name": pki_names.Server.CODEC.value,
                "nginx.ingress.kubernetes.io/proxy-ssl-server-name": "on",
                "nginx.ingress.kubernetes.io/proxy-ssl-secret": (
                    f"{identities.K8S_NAMESPACE}/{CA_CONFIGMAP}"
                ),
            },
        ),
        "spec": {
            "ingressClassName": "nginx",
            # Browsers get HTTPS too: the vault-pki Job issues this Secret from role
            # codec-ingress (this one name); browsers must trust the Vault root CA.
            "tls": [{"hosts": [CODEC_HOST], "secretName": tls.CODEC_INGRESS.volume}],
            "rules": [
                {
                    "host": CODEC_HOST,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {
                                    "service": {"name": ident.name, "port": {"name": "https"}}
                                },
                            }
                        ]
                    },
                }
            ],
        },
    }


def base_objects() -> dict[Path, dict[str, Any]]:
    """Every object of ``k8s/base``, one file each, keyed by path relative to the base."""
    out: dict[Path, dict[str, Any]] = {
        Path("namespace.yaml"): namespace(),
        Path("configmap-worker-env.yaml"): env_configmap(),
        Path("networkpolicy-default-deny.yaml"): default_deny(),
    }
    for ident in identities.ALL:
        out[Path(ident.name, "serviceaccount.yaml")] = service_account(ident)
    for ident in workloads():
        d = Path(ident.name)
        if ident.kind is Kind.MIGRATE:
            out[d / "job.yaml"] = migrate_job()
        else:
            out[d / "deployment.yaml"] = deployment(ident)
            out[d / "poddisruptionbudget.yaml"] = pod_disruption_budget(ident)
        out[d / "networkpolicy.yaml"] = network_policy(ident)
    out[Path(identities.CODEC_SERVER.name, "service.yaml")] = codec_service()
    out[Path(identities.CODEC_SERVER.name, "ingress.yaml")] = codec_ingress()
    return out


def kustomization(paths: Iterable[Path]) -> dict[str, Any]:
    """``kustomization.yaml`` listing every file of the base."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [p.as_posix() for p in paths],
    }


# --------------------------------------------------------------------------- compose
