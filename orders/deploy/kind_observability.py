"""kind, observability: a kustomize Component with the collector, Prometheus and Grafana.

``k8s/overlays/kind/observability/`` (rendered; the overlay lists it under
``components:``) holds, in ``orders-infra`` beside the other servers (so Prometheus mounts
the ``orders-ca`` ConfigMap and the token Secret the unseal Job writes there):

* the three Deployments, their ServiceAccounts and Services, hardened like every pod here
  (non-root, read-only root, no capabilities, ``RuntimeDefault`` seccomp, no API token);
* headless Services Prometheus discovers each replica through (``dns_sd_configs``): one per
  scraped identity in ``orders``, one for the front and one for Temporal;
* NetworkPolicies that add exactly the scrape and export paths to both namespaces'
  default-deny: Prometheus -> each metrics port, workers -> the collector's OTLP port,
  Grafana -> Prometheus (and DNS for the two that resolve names);
* patches: each scraped identity's ``ORDERS_METRICS_*``/``OTEL_*`` settings, and Temporal's
  ``PROMETHEUS_ENDPOINT``;
* the configuration files, generated into ``files/`` (kustomize reads nothing above it).

Grafana has no ingress rule: it is reached with ``kubectl port-forward``, which the
kubelet carries into the pod's own network namespace.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from orders.contract import identities
from orders.contract.identities import Identity
from orders.deploy import front, k8s_base, observability, tls
from orders.deploy.common import DNS, INFRA_NAMESPACE, PROJECT
from orders.deploy.images import Image
from orders.deploy.setup_tokens import METRICS

DIR: Final = Path("k8s/overlays/kind/observability")
FILES: Final = "files"
APP: Final = identities.K8S_NAMESPACE
INFRA: Final = INFRA_NAMESPACE
NAME: Final = "app.kubernetes.io/name"
METRICS_SECRET: Final = "openbao-metrics"  # noqa: S105 - a Secret's name
"""Prometheus's OpenBao token (key ``token``): written by the unseal Job, read by it alone."""
GRAFANA_SECRET: Final = "grafana-admin"  # noqa: S105 - a Secret's name, created by kind.sh
FRONT_METRICS: Final = "temporal-front-metrics"
TEMPORAL_METRICS: Final = "temporal-metrics"
TEMPORAL_APP: Final = front.TEMPORAL_APP
UIDS: Final = {
    observability.COLLECTOR: 10001,
    observability.PROMETHEUS_NAME: 65534,
    observability.GRAFANA_NAME: 10472,
}
"""Each server's user: the images' own where high enough (checkov's >= 10000)."""


def _meta(name: str, namespace: str = INFRA, owner: Identity | None = None) -> dict[str, Any]:
    """Metadata; an object about ``owner``'s pods carries that identity's labels."""
    labels = k8s_base.labels(owner) if owner else {NAME: name, "app.kubernetes.io/part-of": PROJECT}
    return {"name": name, "namespace": namespace, "labels": labels}


def metrics_service(identity: Identity) -> str:
    """The headless Service resolving to ``identity``'s pods (Prometheus's discovery)."""
    return f"{identity.name}-metrics"


def targets() -> observability.Targets:
    """Where Prometheus, in ``orders-infra``, reaches each endpoint in kind."""
    return observability.Targets(
        hosts={i.name: f"{metrics_service(i)}.{APP}.svc" for i in observability.scraped()},
        front=f"{FRONT_METRICS}.{INFRA}.svc",
        temporal=f"{TEMPORAL_METRICS}.{INFRA}.svc",
        openbao=f"openbao.{INFRA}.svc",
        ca_file=tls.CA_PATH,
        dns_sd=True,
    )


def _tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": p} for p in ports]


def _pods(namespace: str, *names: str) -> dict[str, Any]:
    return front.pods(namespace, tuple(names))


def _dns() -> dict[str, Any]:
    peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": DNS.namespace}},
        "podSelector": {"matchLabels": dict(DNS.pod_labels)},
    }
    return {"to": [peer], "ports": [{"protocol": p, "port": DNS.port} for p in DNS.protocols]}


def _policy(
    name: str,
    namespace: str,
    pod: str,
    ingress: list[dict[str, Any]] | None = None,
    egress: list[dict[str, Any]] | None = None,
    owner: Identity | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": {"matchLabels": {NAME: pod}}, "policyTypes": []}
    for key, rules in (("Ingress", ingress), ("Egress", egress)):
        if rules is not None:
            spec["policyTypes"].append(key)
            spec[key.lower()] = rules
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(name, namespace, owner),
        "spec": spec,
    }


def policies() -> dict[str, dict[str, Any]]:
    """File name -> NetworkPolicy: the scrape and export paths, nothing else."""
    prom = _pods(INFRA, observability.PROMETHEUS_NAME)
    senders = [i.name for i in observability.scraped() if observability.sends_traces(i)]
    scrape_app = [
        {"to": [_pods(APP, i.name)], "ports": _tcp(*observability.ports(i))}
        for i in observability.scraped()
    ]
    out = {
        "collector": _policy(
            observability.COLLECTOR,
            INFRA,
            observability.COLLECTOR,
            ingress=[{"from": [_pods(APP, *senders)], "ports": _tcp(observability.OTLP_GRPC_PORT)}],
        ),
        "prometheus": _policy(
            observability.PROMETHEUS_NAME,
            INFRA,
            observability.PROMETHEUS_NAME,
            ingress=[
                {
                    "from": [_pods(INFRA, observability.GRAFANA_NAME)],
                    "ports": _tcp(observability.PROMETHEUS_PORT),
                }
            ],
            egress=[
                *scrape_app,
                {"to": [_pods(INFRA, front.NAME)], "ports": _tcp(front.HEALTH_PORT)},
                {
                    "to": [_pods(INFRA, TEMPORAL_APP)],
                    "ports": _tcp(observability.TEMPORAL_METRICS_PORT),
                },
                {"to": [_pods(INFRA, front.OPENBAO_APP)], "ports": _tcp(front.OPENBAO_PORT)},
                _dns(),
            ],
        ),
        "grafana": _policy(
            observability.GRAFANA_NAME,
            INFRA,
            observability.GRAFANA_NAME,
            ingress=[],
            egress=[
                {
                    "to": [_pods(INFRA, observability.PROMETHEUS_NAME)],
                    "ports": _tcp(observability.PROMETHEUS_PORT),
                },
                _dns(),
            ],
        ),
    }
    for pod, port in (
        (front.NAME, front.HEALTH_PORT),
        (TEMPORAL_APP, observability.TEMPORAL_METRICS_PORT),
        (front.OPENBAO_APP, front.OPENBAO_PORT),
    ):
        out[f"scrape-{pod}"] = _policy(
            f"prometheus-scrape-{pod}", INFRA, pod, ingress=[{"from": [prom], "ports": _tcp(port)}]
        )
    for ident in observability.scraped():
        egress = None
        if observability.sends_traces(ident):
            egress = [
                {
                    "to": [_pods(INFRA, observability.COLLECTOR)],
                    "ports": _tcp(observability.OTLP_GRPC_PORT),
                }
            ]
        out[f"app-{ident.name}"] = _policy(
            f"observability-{ident.name}",
            APP,
            ident.name,
            ingress=[{"from": [prom], "ports": _tcp(*observability.ports(ident))}],
            egress=egress,
            owner=ident,
        )
    return out


def _headless(
    name: str, namespace: str, pod: str, ports: tuple[int, ...], owner: Identity | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, namespace, owner),
        "spec": {
            "clusterIP": "None",
            "selector": {NAME: pod},
            "ports": [{"name": f"metrics-{p}", "port": p, "targetPort": p} for p in ports],
        },
    }


def _service(app: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(app),
        "spec": {
            "selector": {NAME: app},
            "ports": [{"name": "main", "port": port, "targetPort": port}],
        },
    }


def _security(uid: int) -> dict[str, Any]:
    """The project's container hardening (:mod:`orders.deploy.k8s_base`) as user ``uid``."""
    return {**k8s_base.container_security_context(), "runAsUser": uid, "runAsGroup": uid}


def _probe(path: str, port: int, delay: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}, "initialDelaySeconds": delay}


def _deployment(
    app: str,
    image: Image,
    port: int,
    health: tuple[str, int],
    volumes: list[tuple[str, str, dict[str, Any]]],
    **container: Any,
) -> dict[str, Any]:
    """One replica of ``app``; ``volumes``: (name, mount path, volume source)."""
    uid = UIDS[app]
    labels = {NAME: app, "app.kubernetes.io/part-of": PROJECT}
    all_volumes = [("tmp", "/tmp", {"emptyDir": {"sizeLimit": "64Mi"}}), *volumes]  # noqa: S108
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(app),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {NAME: app}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": app,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": uid,
                        "runAsGroup": uid,
                        "fsGroup": uid,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": app,
                            "image": image.ref,
                            "imagePullPolicy": "Always",
                            **container,
                            "ports": [{"name": "main", "containerPort": port, "protocol": "TCP"}],
                            "securityContext": _security(uid),
                            "readinessProbe": _probe(*health, 5),
                            "livenessProbe": _probe(*health, 30),
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "64Mi"},
                                "limits": {"cpu": "500m", "memory": "512Mi"},
                            },
                            "volumeMounts": [
                                {"name": n, "mountPath": path, "readOnly": "emptyDir" not in src}
                                for n, path, src in all_volumes
                            ],
                        }
                    ],
                    "volumes": [{"name": n, **src} for n, _, src in all_volumes],
                },
            },
        },
    }


def _config_map(name: str, **items: str) -> dict[str, Any]:
    source: dict[str, Any] = {"name": name}
    if items:
        source["items"] = [{"key": k, "path": p} for k, p in items.items()]
    return {"configMap": source}


def deployments() -> dict[str, dict[str, Any]]:
    """File name -> the three servers' Deployments."""
    o = observability
    prov = o.GRAFANA_PROVISIONING
    return {
        "otel-collector-deployment.yaml": _deployment(
            o.COLLECTOR,
            o.OTEL_COLLECTOR,
            o.OTLP_GRPC_PORT,
            ("/", o.COLLECTOR_HEALTH_PORT),
            [("config", str(Path(o.COLLECTOR_CONFIG).parent), _config_map("otel-collector"))],
            args=[f"--config={o.COLLECTOR_CONFIG}"],
        ),
        "prometheus-deployment.yaml": _deployment(
            o.PROMETHEUS_NAME,
            o.PROMETHEUS,
            o.PROMETHEUS_PORT,
            ("/-/ready", o.PROMETHEUS_PORT),
            [
                ("config", o.CONFIG_DIR, _config_map("prometheus")),
                ("data", "/prometheus", {"emptyDir": {"sizeLimit": "2Gi"}}),
                ("orders-ca", tls.CA_DIR, _config_map("orders-ca", **{"ca.pem": tls.CA_FILE})),
                (
                    "openbao-token",
                    o.TOKEN_DIR,
                    {"secret": {"secretName": METRICS_SECRET, "defaultMode": 0o400}},
                ),
            ],
            args=o.prometheus_argv(),
        ),
        "grafana-deployment.yaml": _deployment(
            o.GRAFANA_NAME,
            o.GRAFANA,
            o.GRAFANA_PORT,
            ("/api/health", o.GRAFANA_PORT),
            [
                ("data", "/var/lib/grafana", {"emptyDir": {"sizeLimit": "256Mi"}}),
                (
                    "provisioning",
                    prov,
                    _config_map(
                        "grafana-provisioning",
                        **{
                            "datasources.yaml": "datasources/datasources.yaml",
                            "dashboards.yaml": "dashboards/dashboards.yaml",
                        },
                    ),
                ),
                ("dashboards", o.GRAFANA_DASHBOARDS, _config_map("grafana-dashboards")),
                (
                    "admin",
                    "/run/grafana-admin",
                    {"secret": {"secretName": GRAFANA_SECRET, "defaultMode": 0o400}},
                ),
            ],
            env=[
                {"name": k, "value": v}
                for k, v in {
                    **o.grafana_env(),
                    "GF_LOG_MODE": "console",
                    "GF_SECURITY_ADMIN_PASSWORD__FILE": "/run/grafana-admin/password",
                }.items()
            ],
        ),
    }


def _env_patch(kind: str, name: str, namespace: str, container: str, env: dict[str, str]) -> Any:
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": container,
                            "env": [{"name": k, "value": v} for k, v in env.items()],
                        }
                    ]
                }
            }
        },
    }


def patches() -> dict[str, dict[str, Any]]:
    """File name -> strategic-merge patch: the settings that turn the endpoints on."""
    collector = f"{observability.COLLECTOR}.{INFRA}.svc"
    base = k8s_base.base_objects()
    out = {}
    for ident in observability.scraped():
        deployment = base[Path(ident.name, "deployment.yaml")]
        container = deployment["spec"]["template"]["spec"]["containers"][0]["name"]
        env = {**observability.shared_env(collector), **observability.identity_env(ident)}
        out[f"env-{ident.name}.yaml"] = _env_patch("Deployment", ident.name, APP, container, env)
    endpoint = {"PROMETHEUS_ENDPOINT": f"0.0.0.0:{observability.TEMPORAL_METRICS_PORT}"}
    out["env-temporal.yaml"] = _env_patch("Deployment", TEMPORAL_APP, INFRA, "temporal", endpoint)
    return out


UNSEAL: Final = "openbao-unseal"
JSON_PATCHES: Final = {
    "unseal-metrics-token.yaml": (
        {"kind": "Job", "name": UNSEAL, "namespace": INFRA},
        [
            {"op": "add", "path": "/spec/template/spec/containers/0/command/-", "value": v}
            for v in ("--k8s-step-secret", f"{METRICS}={METRICS_SECRET}")
        ],
    ),
    "unseal-role-metrics-token.yaml": (
        {"kind": "Role", "name": UNSEAL, "namespace": INFRA},
        [{"op": "add", "path": "/rules/1/resourceNames/-", "value": METRICS_SECRET}],
    ),
}
"""JSON patches of the unseal Job and its Role: it also hands Prometheus its OpenBao token
(Secret :data:`METRICS_SECRET`, :data:`orders.deploy.setup_tokens.METRICS`), which it
may then read back and update like the steps' Secrets, and nothing else."""


def objects() -> dict[str, dict[str, Any]]:
    """File name -> every resource of the Component (not the patches)."""
    o = observability
    out: dict[str, dict[str, Any]] = {}
    for app in o.APPS:
        out[f"{app}-serviceaccount.yaml"] = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(app),
            "automountServiceAccountToken": False,
        }
    out["otel-collector-service.yaml"] = _service(o.COLLECTOR, o.OTLP_GRPC_PORT)
    out["prometheus-service.yaml"] = _service(o.PROMETHEUS_NAME, o.PROMETHEUS_PORT)
    out["grafana-service.yaml"] = _service(o.GRAFANA_NAME, o.GRAFANA_PORT)
    for ident in o.scraped():
        out[f"{metrics_service(ident)}-service.yaml"] = _headless(
            metrics_service(ident), APP, ident.name, o.ports(ident), owner=ident
        )
    out[f"{FRONT_METRICS}-service.yaml"] = _headless(
        FRONT_METRICS, INFRA, front.NAME, (front.HEALTH_PORT,)
    )
    out[f"{TEMPORAL_METRICS}-service.yaml"] = _headless(
        TEMPORAL_METRICS, INFRA, TEMPORAL_APP, (o.TEMPORAL_METRICS_PORT,)
    )
    out |= deployments()
    out |= {f"networkpolicy-{n}.yaml": p for n, p in policies().items()}
    return out


def config_files() -> dict[str, str]:
    """File name under ``files/`` -> text (the ConfigMaps' sources)."""
    o = observability
    return {
        "prometheus.yml": o.as_yaml(o.prometheus_config(targets())),
        "rules.yml": o.as_yaml(o.rules()),
        "config.yaml": o.as_yaml(o.collector_config()),
        "datasources.yaml": o.as_yaml(o.grafana_datasources(f"{o.PROMETHEUS_NAME}.{INFRA}.svc")),
        "dashboards.yaml": o.as_yaml(o.grafana_dashboards()),
        "hardened-orders.json": o.dashboard_json(),
    }


def component() -> dict[str, Any]:
    """``kustomization.yaml`` of the Component."""
    generated = {
        "otel-collector": ["config.yaml"],
        "prometheus": ["prometheus.yml", "rules.yml"],
        "grafana-provisioning": ["datasources.yaml", "dashboards.yaml"],
        "grafana-dashboards": ["hardened-orders.json"],
    }
    return {
        "apiVersion": "kustomize.config.k8s.io/v1alpha1",
        "kind": "Component",
        "resources": sorted(objects()),
        "configMapGenerator": [
            {"name": n, "namespace": INFRA, "files": [f"{FILES}/{f}" for f in fs]}
            for n, fs in generated.items()
        ],
        "generatorOptions": {"disableNameSuffixHash": True},
        "patches": [{"path": f"patches/{n}"} for n in sorted(patches())]
        + [{"path": f"patches/{n}", "target": t} for n, (t, _) in JSON_PATCHES.items()],
    }


def files() -> dict[Path, Any]:  # object, list (a JSON patch) or text
    """Path relative to the root -> object (YAML) or text (``files/``)."""
    out: dict[Path, Any] = {DIR / n: obj for n, obj in objects().items()}
    out |= {DIR / "patches" / n: obj for n, obj in patches().items()}
    out |= {DIR / "patches" / n: ops for n, (_, ops) in JSON_PATCHES.items()}
    out[DIR / "kustomization.yaml"] = component()
    out |= {DIR / FILES / n: text for n, text in config_files().items()}
    return out
