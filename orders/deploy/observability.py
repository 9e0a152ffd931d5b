"""Observability of the deployments: the collector, Prometheus and Grafana (compose, kind).

What compose (:mod:`orders.deploy.compose_observability`) and kind
(:mod:`orders.deploy.kind_observability`) share is here, derived from the identity
contract: which identities are scraped and on which ports, the ``ORDERS_*``/``OTEL_*``
settings that turn their endpoints on, Prometheus's scrape jobs and alerting rules, the
OpenTelemetry Collector's pipeline and Grafana's provisioning. Only host names differ
between the two targets (:class:`Targets`).

Paths:

* each worker serves the project's counters (``metrics_port``) and its Temporal SDK
  runtime's (``sdk_metrics_port``), the codec server its counters; ports are per identity
  (compose's identities may share a network namespace), from :func:`metrics_port`;
* Prometheus scrapes them, the authorization front's health port, Temporal's own metrics
  (``PROMETHEUS_ENDPOINT``) and OpenBao's ``/v1/sys/metrics`` with a token whose only
  policy is ``vault/setup/metrics-reader.hcl`` (:mod:`orders.vault.metrics_reader`);
* workers send traces over OTLP/gRPC to the collector (``OTEL_EXPORTER_OTLP_ENDPOINT``),
  which batches them into its ``debug`` exporter (docs/observability.md says why);
* Grafana reads Prometheus only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

import yaml

from orders.contract import identities, pki_names
from orders.contract.identities import Identity
from orders.deploy import dashboard, front
from orders.deploy.common import GENERATED
from orders.deploy.images import GRAFANA, OTEL_COLLECTOR, PROMETHEUS
from orders.observability import names

__all__ = ["GRAFANA", "OTEL_COLLECTOR", "PROMETHEUS"]

COLLECTOR: Final = "otel-collector"
PROMETHEUS_NAME: Final = "prometheus"
GRAFANA_NAME: Final = "grafana"
APPS: Final = (COLLECTOR, PROMETHEUS_NAME, GRAFANA_NAME)
"""Service (compose) and ``app.kubernetes.io/name`` (kind) of the three servers."""

OTLP_GRPC_PORT: Final = 4317
PROMETHEUS_PORT: Final = 9090
GRAFANA_PORT: Final = 3000
COLLECTOR_HEALTH_PORT: Final = 13133
"""The collector's ``health_check`` extension (probes; not exposed beyond its pod)."""
TEMPORAL_METRICS_PORT: Final = 8000
"""Temporal's own Prometheus endpoint (``PROMETHEUS_ENDPOINT`` of the server image)."""
METRICS_BASE_PORT: Final = 9400
SDK_METRICS_BASE_PORT: Final = 9500

SCRAPE_INTERVAL: Final = "15s"
"""Prometheus's usual interval (the dev stack's default too: every scrape costs CPU)."""
RETENTION: Final = "7d"

CONFIG_DIR: Final = "/etc/prometheus"
PROMETHEUS_CONFIG: Final = f"{CONFIG_DIR}/prometheus.yml"
RULES_FILE: Final = f"{CONFIG_DIR}/rules.yml"
TOKEN_DIR: Final = "/run/openbao-metrics"  # noqa: S105 - a directory, not a token
TOKEN_FILE: Final = f"{TOKEN_DIR}/token"
COLLECTOR_CONFIG: Final = "/etc/otelcol-contrib/config.yaml"
GRAFANA_PROVISIONING: Final = "/etc/grafana/provisioning"
GRAFANA_DASHBOARDS: Final = "/var/lib/grafana/dashboards"
DATASOURCE_UID: Final = dashboard.DATASOURCE_UID

JOB_ORDERS: Final = "orders"
JOB_SDK: Final = "temporal-sdk"
JOB_FRONT: Final = "front"
JOB_TEMPORAL: Final = "temporal-server"
JOB_OPENBAO: Final = "openbao"
JOBS: Final = (JOB_ORDERS, JOB_SDK, JOB_FRONT, JOB_TEMPORAL, JOB_OPENBAO)
"""The dev stack's job names (:mod:`orders.devstack.servers.prometheus`), kept alike."""


def scraped() -> tuple[Identity, ...]:
    """Identities whose processes serve ``/metrics``: the workers and the codec server."""
    return (*identities.workers(), identities.CODEC_SERVER)


def metrics_port(identity: Identity) -> int:
    """Port of ``identity``'s own counters (prometheus-client), unique per identity."""
    return METRICS_BASE_PORT + identities.ALL.index(identity)


def sdk_metrics_port(identity: Identity) -> int | None:
    """Port of a worker's Temporal SDK runtime metrics; None for the codec server."""
    if not identity.is_worker:
        return None
    return SDK_METRICS_BASE_PORT + identities.ALL.index(identity)


def ports(identity: Identity) -> tuple[int, ...]:
    """Every metrics port ``identity`` serves (what Prometheus alone may reach)."""
    sdk = sdk_metrics_port(identity)
    return (metrics_port(identity), *(() if sdk is None else (sdk,)))


def sends_traces(identity: Identity) -> bool:
    """Whether ``identity`` exports spans (the workers: they run Temporal's interceptor)."""
    return identity.is_worker


def shared_env(collector_host: str) -> dict[str, str]:
    """``ORDERS_METRICS_HOST`` and the OTLP exporter's settings, alike for every identity.

    The endpoints listen on every address of the container/pod: only Prometheus may reach
    them (compose networks, NetworkPolicies); they carry no secret and no personal data
    (docs/observability.md, ``tests/unit/observability/test_labels.py``). A process that
    serves no metrics or exports no spans ignores these. ``service.name`` is the identity,
    set by the process itself (``OTEL_*`` as the traces' exporter reads them: the standard
    variables, docs/observability.md).
    """
    return {
        "ORDERS_METRICS_HOST": "0.0.0.0",  # noqa: S104 - the pod's/container's own address
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{collector_host}:{OTLP_GRPC_PORT}",
        # Plain gRPC on a path only the collector serves: spans carry allow-listed ids only
        # (orders.observability.tracing scrubs them); TLS here is left to do.
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
    }


def identity_env(identity: Identity) -> dict[str, str]:
    """``identity``'s own metrics ports (none if it is not scraped)."""
    if identity not in scraped():
        return {}
    env = {"ORDERS_METRICS_PORT": str(metrics_port(identity))}
    sdk = sdk_metrics_port(identity)
    if sdk is not None:
        env["ORDERS_SDK_METRICS_PORT"] = str(sdk)
    return env


@dataclass(frozen=True)
class Targets:
    """Where Prometheus finds each endpoint in one deployment target.

    Attributes:
        hosts: Identity name -> host its metrics ports are reached at.
        front: The authorization front's host (its health port serves ``/metrics``).
        temporal: Temporal server's host.
        openbao: OpenBao's host (``https``, verified by :attr:`ca_file`).
        ca_file: The Vault root CA inside Prometheus's container.
        dns_sd: Hosts (but OpenBao's) are headless Services: scrape every address their
            DNS name resolves to (each replica), not one connection's pick.
    """

    hosts: dict[str, str]
    front: str
    temporal: str
    openbao: str
    ca_file: str
    dns_sd: bool = False


def _job(name: str, pairs: list[tuple[str, int]], dns_sd: bool, **extra: Any) -> dict[str, Any]:
    if dns_sd:
        found = [{"names": [h], "type": "A", "port": p} for h, p in sorted(set(pairs))]
        return {"job_name": name, "dns_sd_configs": found, **extra}
    targets = sorted({f"{h}:{p}" for h, p in pairs})
    return {"job_name": name, "static_configs": [{"targets": targets}], **extra}


def prometheus_config(t: Targets) -> dict[str, Any]:
    """Prometheus's configuration: the five jobs of the dev stack, rules, no remote write."""
    orders = [(t.hosts[i.name], metrics_port(i)) for i in scraped()]
    sdk = [(t.hosts[i.name], p) for i in scraped() if (p := sdk_metrics_port(i)) is not None]
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [RULES_FILE],
        "scrape_configs": [
            _job(JOB_ORDERS, orders, t.dns_sd),
            _job(JOB_SDK, sdk, t.dns_sd),
            _job(JOB_FRONT, [(t.front, front.HEALTH_PORT)], t.dns_sd),
            _job(JOB_TEMPORAL, [(t.temporal, TEMPORAL_METRICS_PORT)], t.dns_sd),
            _job(
                JOB_OPENBAO,
                [(t.openbao, front.OPENBAO_PORT)],
                False,
                scheme="https",
                metrics_path="/v1/sys/metrics",
                params={"format": ["prometheus"]},
                tls_config={
                    "ca_file": t.ca_file,
                    "server_name": pki_names.Server.OPENBAO.value,
                },
                authorization={"credentials_file": TOKEN_FILE},
            ),
        ],
    }


def _alert(name: str, expr: str, summary: str, wait: str = "0m") -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": wait,
        "labels": {"severity": "warning"},
        "annotations": {"summary": summary},
    }


def rules() -> dict[str, Any]:
    """Alerting rules on the project's series (shown in Prometheus; no Alertmanager here)."""
    failed = f'{names.EVENT}=~"{names.CREDENTIAL_FAILED}|{names.CREDENTIAL_REFUSED}"'
    by_identity = f"sum by ({names.IDENTITY})"
    return {
        "groups": [
            {
                "name": "orders",
                "rules": [
                    _alert(
                        "OrdersCredentialFailures",
                        f"{by_identity} (increase({names.CREDENTIAL_GENERATIONS}_total"
                        f"{{{failed}}}[10m])) > 0",
                        "An identity failed to obtain or renew a credential, or Postgres "
                        "refused it.",
                    ),
                    _alert(
                        "OrdersCredentialExpiring",
                        f"{names.CREDENTIAL_EXPIRY} - time() < 60",
                        "A credential generation expires within a minute and was not renewed.",
                    ),
                    _alert(
                        "OrdersDependencyUnavailable",
                        f"sum by ({names.IDENTITY}, {names.DEPENDENCY}) "
                        f"(increase({names.DEPENDENCY_UNAVAILABLE}_total[5m])) > 0",
                        "Vault or Postgres was unavailable to an identity.",
                    ),
                    _alert(
                        "OrdersFrontDenied",
                        f"sum by ({names.IDENTITY}, {names.CALL}) "
                        f"(increase({names.FRONT_DENIED}_total[5m])) > 0",
                        "The authorization front refused Temporal calls.",
                    ),
                    _alert(
                        "OrdersPayloadsRefused",
                        f"sum by ({names.IDENTITY}, {names.REASON}) "
                        f"(increase({names.CODEC_REFUSED}_total[5m])) > 0",
                        "A codec refused payloads (plaintext, forged or oversized).",
                    ),
                    _alert(
                        "OrdersApprovalsRejected",
                        f"sum by ({names.REASON}) "
                        f"(increase({names.APPROVALS_REJECTED}_total[15m])) > 0",
                        "The workflow refused approvals or forged approval signals.",
                    ),
                    _alert(
                        "OrdersTargetDown",
                        "up == 0",
                        "Prometheus cannot scrape an endpoint.",
                        wait="2m",
                    ),
                ],
            }
        ]
    }


def collector_config() -> dict[str, Any]:
    """The collector: OTLP/gRPC in, memory limit, batches, the ``debug`` exporter out.

    ``debug`` at ``basic`` verbosity logs one line per batch (counts, no attributes): the
    collector is the seam where an operator plugs Tempo, Jaeger or a vendor (one exporter
    stanza), and nothing a span carries lands in a log meanwhile.
    """
    return {
        "receivers": {
            "otlp": {
                "protocols": {"grpc": {"endpoint": f"0.0.0.0:{OTLP_GRPC_PORT}"}},
            }
        },
        "processors": {
            "memory_limiter": {"check_interval": "1s", "limit_mib": 200, "spike_limit_mib": 50},
            "batch": {},
        },
        "exporters": {"debug": {"verbosity": "basic"}},
        "extensions": {"health_check": {"endpoint": f"0.0.0.0:{COLLECTOR_HEALTH_PORT}"}},
        "service": {
            "extensions": ["health_check"],
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["memory_limiter", "batch"],
                    "exporters": ["debug"],
                }
            },
        },
    }


def grafana_datasources(prometheus_host: str) -> dict[str, Any]:
    """Grafana's one datasource: this Prometheus, read-only in the UI."""
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "type": "prometheus",
                "uid": DATASOURCE_UID,
                "access": "proxy",
                "url": f"http://{prometheus_host}:{PROMETHEUS_PORT}",
                "isDefault": True,
                "editable": False,
            }
        ],
    }


def grafana_dashboards() -> dict[str, Any]:
    """Grafana's dashboard provider: the JSON files under :data:`GRAFANA_DASHBOARDS`."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "hardened-orders",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "options": {"path": GRAFANA_DASHBOARDS, "foldersFromFilesStructure": False},
            }
        ],
    }


def grafana_env() -> dict[str, str]:
    """Grafana's settings: no anonymous access, no sign-up, no phoning home."""
    return {
        "GF_AUTH_ANONYMOUS_ENABLED": "false",
        "GF_USERS_ALLOW_SIGN_UP": "false",
        "GF_ANALYTICS_REPORTING_ENABLED": "false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
        "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES": "false",
        "GF_NEWS_NEWS_FEED_ENABLED": "false",
        "GF_PLUGINS_PREINSTALL_DISABLED": "true",
        "GF_SECURITY_DISABLE_GRAVATAR": "true",
        "GF_PATHS_PROVISIONING": GRAFANA_PROVISIONING,
    }


def dashboard_json() -> str:
    """The provisioned dashboard, as Grafana reads it (stable key order, one trailing LF)."""
    return json.dumps(dashboard.dashboard(), indent=2) + "\n"


def prometheus_argv() -> list[str]:
    """Prometheus's command line (config, rules and TSDB on its own volume)."""
    return [
        f"--config.file={PROMETHEUS_CONFIG}",
        "--storage.tsdb.path=/prometheus",
        f"--storage.tsdb.retention.time={RETENTION}",
        "--storage.tsdb.retention.size=400MB",
        f"--web.listen-address=0.0.0.0:{PROMETHEUS_PORT}",
    ]


def as_yaml(obj: dict[str, Any]) -> str:
    """A generated configuration file: the generated-file header, then plain YAML."""
    return GENERATED + yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, width=100)
