"""docker-compose, observability: ``docker-compose.observability.yml`` and its hook.

The collector, Prometheus and Grafana are services of their own file, included by
``docker-compose.yml``; their configuration files are rendered into
:data:`CONFIG_DIR`. :func:`attach` is the one hook into the other files: it gives each
scraped identity its ``ORDERS_METRICS_*``/``OTEL_*`` settings, Temporal its metrics
endpoint, and each scraped or exporting service the one network it shares with Prometheus
or the collector.

Networks (all ``internal``, no route out):

* ``obs-scrape-<host>``: Prometheus and one host it scrapes, nothing else;
* ``obs-otlp-<host>``: the collector and one host that sends it traces;
* ``obs-grafana``: Grafana and Prometheus;
* ``obs-ingress``: Grafana and the ``ingress`` relay, which publishes Grafana's port on the
  host's loopback (the relay is the only service that publishes anything, see
  :mod:`orders.deploy.compose_networks`).

A host is the service that owns the network namespace a service runs in (its
``network_mode: service:<owner>``, else itself), read from the rendered model, so the
networks follow compose's own segmentation whatever it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from orders.contract import identities
from orders.contract.identities import Identity
from orders.deploy import front, observability, tls
from orders.deploy.common import UID, Anchor
from orders.deploy.compose_infra import HARDENED, PROBE, TLS_CA, healthcheck
from orders.deploy.compose_networks import INGRESS_SERVICE
from orders.deploy.compose_steps import STEP_TOKEN_DIR
from orders.deploy.setup_tokens import METRICS

OBS_FILE: Final = Path("docker-compose.observability.yml")
CONFIG_DIR: Final = Path("deploy/observability")
DASHBOARD_FILE: Final = "hardened-orders.json"
METRICS_TOKEN_VOLUME: Final = "openbao-token-metrics"  # noqa: S105 - a volume's name
"""Prometheus's OpenBao token: written by ``openbao-init``, read by Prometheus alone."""
GRAFANA_SECRET: Final = "grafana-admin-password"  # noqa: S105 - a secret's name
INGRESS: Final = "obs-ingress"
GRAFANA_NET: Final = "obs-grafana"
TEMPORAL_SERVICE: Final = "temporal"
INIT_SERVICE: Final = "openbao-init"
INIT_TOKEN_DIR: Final = f"{STEP_TOKEN_DIR}/{METRICS}"
OPENBAO_SERVICE: Final = "openbao"

CONFIGS: Final = {
    "prometheus-config": ("prometheus.yml", observability.PROMETHEUS_CONFIG),
    "prometheus-rules": ("rules.yml", observability.RULES_FILE),
    "otel-collector-config": ("otel-collector.yaml", observability.COLLECTOR_CONFIG),
    "grafana-datasources": (
        "grafana/datasources.yaml",
        f"{observability.GRAFANA_PROVISIONING}/datasources/datasources.yaml",
    ),
    "grafana-dashboards": (
        "grafana/dashboards.yaml",
        f"{observability.GRAFANA_PROVISIONING}/dashboards/dashboards.yaml",
    ),
    "grafana-dashboard": (
        f"grafana/dashboards/{DASHBOARD_FILE}",
        f"{observability.GRAFANA_DASHBOARDS}/{DASHBOARD_FILE}",
    ),
}
"""Compose config name -> (file under :data:`CONFIG_DIR`, path in the container)."""


def resolved(service: dict[str, Any]) -> dict[str, Any]:
    """``service`` with its YAML merge keys (``<<``) applied, as compose reads it."""
    out: dict[str, Any] = {}
    base = service.get("<<")
    for b in base if isinstance(base, list) else [base] if base else []:
        out |= resolved(dict(b))
    return out | {k: v for k, v in service.items() if k != "<<"}


def host(services: dict[str, Any], name: str) -> str:
    """The service whose network namespace ``name`` runs in (``name`` itself if its own)."""
    mode = resolved(services[name]).get("network_mode", "")
    return mode.removeprefix("service:") if mode.startswith("service:") else name


def scrape_network(owner: str) -> str:
    """The network Prometheus shares with ``owner`` alone."""
    return f"obs-scrape-{owner}"


def otlp_network(owner: str) -> str:
    """The network the collector shares with ``owner`` alone."""
    return f"obs-otlp-{owner}"


def targets(services: dict[str, Any]) -> observability.Targets:
    """Where Prometheus reaches each endpoint in compose (service names, by namespace owner)."""
    return observability.Targets(
        hosts={i.name: host(services, i.name) for i in observability.scraped()},
        front=host(services, front.NAME),
        temporal=host(services, TEMPORAL_SERVICE),
        openbao=host(services, OPENBAO_SERVICE),
        ca_file=tls.CA_PATH,
    )


def scraped_hosts(services: dict[str, Any]) -> list[str]:
    """Every service Prometheus scrapes (namespace owners), sorted."""
    t = targets(services)
    return sorted({*t.hosts.values(), t.front, t.temporal, t.openbao})


def sending_hosts(services: dict[str, Any]) -> list[str]:
    """Every service that sends the collector traces (namespace owners), sorted."""
    return sorted({host(services, i.name) for i in identities.ALL if _sends(i)})


def _sends(identity: Identity) -> bool:
    return identity in observability.scraped() and observability.sends_traces(identity)


def _join(service: dict[str, Any], network: str) -> None:
    nets = service.setdefault("networks", [])
    if isinstance(nets, list):
        nets.append(network)
    else:
        nets.setdefault(network, {})


def attach(identity_doc: dict[str, Any], infra_doc: dict[str, Any]) -> None:
    """The hook: settings and networks the other two files' services need (in place)."""
    services = {**identity_doc["services"], **infra_doc["services"]}
    old = identity_doc["x-identity-env"]
    shared = Anchor(old.name, {**old, **observability.shared_env(observability.COLLECTOR)})
    identity_doc["x-identity-env"] = shared
    for svc in identity_doc["services"].values():
        env = svc.get("environment", {})
        if env.get("<<") is old:
            env["<<"] = shared
    for ident in observability.scraped():
        services[ident.name]["environment"].update(observability.identity_env(ident))
    services[TEMPORAL_SERVICE]["environment"]["PROMETHEUS_ENDPOINT"] = (
        f"0.0.0.0:{observability.TEMPORAL_METRICS_PORT}"
    )
    # The unseal step hands Prometheus its OpenBao token (orders.deploy.setup_tokens.METRICS).
    init = services[INIT_SERVICE]
    init["command"] = [*init["command"], "--step-token-dir", f"{METRICS}={INIT_TOKEN_DIR}"]
    init["volumes"] = [*init["volumes"], _token_volume(INIT_TOKEN_DIR, read_only=False)]
    # Grafana's page reaches the host through the one relay that publishes anything.
    relay, port = services[INGRESS_SERVICE], observability.GRAFANA_PORT
    relay["command"] = [
        *relay["command"],
        *("--listen", f"0.0.0.0:{port}", "--to", f"{observability.GRAFANA_NAME}:{port}"),
    ]
    relay["ports"] = [*relay["ports"], f"127.0.0.1:{port}:{port}"]
    _join(relay, INGRESS)
    for owner in scraped_hosts(services):
        _join(services[owner], scrape_network(owner))
    for owner in sending_hosts(services):
        _join(services[owner], otlp_network(owner))


USERS: Final = {
    observability.COLLECTOR: 10001,
    observability.PROMETHEUS_NAME: UID,
    observability.GRAFANA_NAME: 472,
}
"""The images' own users (Grafana's data directory is its own in a fresh named volume);
Prometheus as the project's, the owner of its OpenBao token file."""


def _user(app: str) -> str:
    return f"{USERS[app]}:{USERS[app]}"


def _token_volume(target: str, *, read_only: bool) -> dict[str, Any]:
    return {
        "type": "volume",
        "source": METRICS_TOKEN_VOLUME,
        "target": target,
        "read_only": read_only,
    }


def _http_probe(port: int, path: str) -> dict[str, Any]:
    """A healthcheck: ``GET path`` on the container's own ``port`` (busybox ``wget``)."""
    return healthcheck(["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{port}{path}"])


def _config(name: str) -> dict[str, str]:
    return {"source": name, "target": CONFIGS[name][1]}


def compose(services: dict[str, Any]) -> dict[str, Any]:
    """``docker-compose.observability.yml`` for the identities' and servers' ``services``."""
    scrape: dict[str, Any] = {scrape_network(h): {} for h in scraped_hosts(services)}
    otlp: dict[str, Any] = {otlp_network(h): {} for h in sending_hosts(services)}
    obs = {
        observability.COLLECTOR: {
            "<<": HARDENED,
            "image": observability.OTEL_COLLECTOR.ref,
            "user": _user(observability.COLLECTOR),
            "command": [f"--config={observability.COLLECTOR_CONFIG}"],
            "configs": [_config("otel-collector-config")],
            # A distroless image: no shell or client for a healthcheck of its own.
            "networks": dict(otlp),
            "restart": "unless-stopped",
        },
        observability.PROMETHEUS_NAME: {
            "<<": HARDENED,
            "image": observability.PROMETHEUS.ref,
            "user": _user(observability.PROMETHEUS_NAME),
            "command": observability.prometheus_argv(),
            "configs": [_config("prometheus-config"), _config("prometheus-rules")],
            "volumes": [
                TLS_CA,
                _token_volume(observability.TOKEN_DIR, read_only=True),
            ],
            # Its TSDB in memory: it runs as the project's user (the unseal step writes the
            # token 0600 as that user), which owns no directory of this image.
            "tmpfs": [*HARDENED["tmpfs"], "/prometheus:size=512m,mode=1777"],
            "networks": {**scrape, GRAFANA_NET: {}},
            "healthcheck": _http_probe(observability.PROMETHEUS_PORT, "/-/ready"),
            "depends_on": {"openbao-init": {"condition": "service_completed_successfully"}},
            "restart": "unless-stopped",
        },
        observability.GRAFANA_NAME: {
            "<<": HARDENED,
            "image": observability.GRAFANA.ref,
            "user": _user(observability.GRAFANA_NAME),
            "environment": {
                **observability.grafana_env(),
                "GF_SECURITY_ADMIN_PASSWORD__FILE": f"/run/secrets/{GRAFANA_SECRET}",
            },
            "secrets": [GRAFANA_SECRET],
            "configs": [
                _config("grafana-datasources"),
                _config("grafana-dashboards"),
                _config("grafana-dashboard"),
            ],
            "volumes": ["grafana-data:/var/lib/grafana"],
            "networks": {GRAFANA_NET: {}, INGRESS: {}},
            "healthcheck": _http_probe(observability.GRAFANA_PORT, "/api/health"),
            "depends_on": {
                observability.PROMETHEUS_NAME: {"condition": "service_healthy"},
            },
            "restart": "unless-stopped",
        },
    }
    return {
        "x-hardened": HARDENED,
        "x-probe": PROBE,
        "x-tls-ca": TLS_CA,
        "services": obs,
        "networks": {
            **{n: {"internal": True} for n in (*scrape, *otlp, GRAFANA_NET, INGRESS)},
        },
        "volumes": {v: {} for v in ("grafana-data", METRICS_TOKEN_VOLUME)},
        "secrets": {GRAFANA_SECRET: {"file": f".orders/compose/secrets/{GRAFANA_SECRET}"}},
        "configs": {
            name: {"file": f"./{(CONFIG_DIR / rel).as_posix()}"}
            for name, (rel, _) in CONFIGS.items()
        },
    }


def config_files(services: dict[str, Any]) -> dict[Path, str]:
    """The configuration files compose mounts, keyed by path relative to the root."""
    prometheus_host = observability.PROMETHEUS_NAME
    texts = {
        "prometheus.yml": observability.as_yaml(observability.prometheus_config(targets(services))),
        "rules.yml": observability.as_yaml(observability.rules()),
        "otel-collector.yaml": observability.as_yaml(observability.collector_config()),
        "grafana/datasources.yaml": observability.as_yaml(
            observability.grafana_datasources(prometheus_host)
        ),
        "grafana/dashboards.yaml": observability.as_yaml(observability.grafana_dashboards()),
        f"grafana/dashboards/{DASHBOARD_FILE}": observability.dashboard_json(),
    }
    return {CONFIG_DIR / rel: text for rel, text in texts.items()}
