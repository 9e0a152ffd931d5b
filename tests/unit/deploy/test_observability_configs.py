"""The observability configuration compose and kind ship: valid, and reading real series.

Offline: Prometheus's configurations and rules pass ``promtool`` (Debian's prometheus
package, ``make debs``), every dashboard query parses as PromQL (promtool checks it as a
recording rule), the collector's pipeline names only components it defines, Grafana's
provisioning points at the dashboard and datasource that exist. Every series the
dashboard and the rules read is one the code exports (:mod:`tests.support.series` derives
that list from the code and the SDK Core source); a dashboard reading an unknown series,
or an SDK series under a wrong name, is caught.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from orders.deploy import (
    compose_infra,
    compose_observability,
    dashboard,
    kind_observability,
    observability,
)
from orders.deploy.common import ROOT, package_file
from tests.support import series

COMPOSE_DIR = ROOT / compose_observability.CONFIG_DIR
KIND_DIR = ROOT / kind_observability.DIR / kind_observability.FILES
PROMETHEUS_CONFIGS = [COMPOSE_DIR / "prometheus.yml", KIND_DIR / "prometheus.yml"]
RULES = [COMPOSE_DIR / "rules.yml", KIND_DIR / "rules.yml"]
DASHBOARDS = [
    COMPOSE_DIR / "grafana" / "dashboards" / compose_observability.DASHBOARD_FILE,
    KIND_DIR / compose_observability.DASHBOARD_FILE,
]
COLLECTORS = [COMPOSE_DIR / "otel-collector.yaml", KIND_DIR / "config.yaml"]


@pytest.fixture(scope="module")
def promtool() -> str:
    """Debian's promtool; a missing one fails under ``make test``, else skips."""
    found = shutil.which("promtool")
    if found is None:
        message = "promtool missing: `make debs` installs Debian's prometheus"
        if os.environ.get("ORDERS_REQUIRE_DEPLOY_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool, *args], capture_output=True, text=True, check=False)


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def test_prometheus_configs_and_rules_pass_promtool(promtool: str) -> None:
    for path in PROMETHEUS_CONFIGS:
        done = _run(promtool, "check", "config", "--syntax-only", str(path))
        assert done.returncode == 0, f"{path}:\n{done.stdout}{done.stderr}"
    for path in RULES:
        done = _run(promtool, "check", "rules", str(path))
        assert done.returncode == 0, f"{path}:\n{done.stdout}{done.stderr}"


def _exprs(model: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in model["panels"] for t in p.get("targets", [])]


def test_dashboard_queries_parse(promtool: str, tmp_path: Path) -> None:
    model = json.loads(DASHBOARDS[0].read_text())
    recording = [{"record": f"dashboard:q{n}", "expr": e} for n, e in enumerate(_exprs(model))]
    path = tmp_path / "dashboard-as-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recording}]}))
    done = _run(promtool, "check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    path.write_text(
        yaml.safe_dump(
            {"groups": [{"name": "d", "rules": [recording[0] | {"expr": "sum by (identity"}]}]}
        )
    )
    assert _run(promtool, "check", "rules", str(path)).returncode != 0  # the check can fail


def test_prometheus_scrapes_every_endpoint_with_the_jobs_of_the_dev_stack() -> None:
    for path in PROMETHEUS_CONFIGS:
        config = _load(path)
        jobs = {j["job_name"]: j for j in config["scrape_configs"]}
        assert tuple(jobs) == observability.JOBS, path
        assert config["rule_files"] == [observability.RULES_FILE]
        vault = jobs[observability.JOB_OPENBAO]
        assert vault["scheme"] == "https"
        assert vault["authorization"] == {"credentials_file": observability.TOKEN_FILE}
        assert "insecure_skip_verify" not in vault["tls_config"]
        assert all("basic_auth" not in j and "bearer_token" not in j for j in jobs.values())
    kind = {j["job_name"]: j for j in _load(PROMETHEUS_CONFIGS[1])["scrape_configs"]}
    ports = {c["port"] for c in kind[observability.JOB_ORDERS]["dns_sd_configs"]}
    assert ports == {observability.metrics_port(i) for i in observability.scraped()}


def test_every_dashboard_is_the_rendered_one_and_well_formed() -> None:
    texts = {p.read_text() for p in DASHBOARDS}
    assert texts == {observability.dashboard_json()}
    model = json.loads(texts.pop())
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids))
    cells = [(p["gridPos"]["x"], p["gridPos"]["y"]) for p in model["panels"]]
    assert len(cells) == len(set(cells)), "panels overlap"
    for panel in model["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == observability.DATASOURCE_UID


def test_grafana_provisioning_points_at_the_dashboard_and_datasource() -> None:
    for path in (COMPOSE_DIR / "grafana" / "datasources.yaml", KIND_DIR / "datasources.yaml"):
        [source] = _load(path)["datasources"]
        assert source["uid"] == dashboard.DATASOURCE_UID
        assert source["url"].endswith(f":{observability.PROMETHEUS_PORT}")
    for path in (COMPOSE_DIR / "grafana" / "dashboards.yaml", KIND_DIR / "dashboards.yaml"):
        [provider] = _load(path)["providers"]
        assert provider["options"]["path"] == observability.GRAFANA_DASHBOARDS
    mounted = compose_observability.CONFIGS["grafana-dashboard"][1]
    assert mounted.startswith(observability.GRAFANA_DASHBOARDS + "/")


def test_collector_pipeline_uses_only_what_it_defines() -> None:
    for path in COLLECTORS:
        config = _load(path)
        service = config["service"]
        assert set(service["extensions"]) <= set(config["extensions"])
        for pipeline in service["pipelines"].values():
            for kind in ("receivers", "processors", "exporters"):
                assert set(pipeline[kind]) <= set(config[kind]), (path, kind)
        grpc = config["receivers"]["otlp"]["protocols"]
        assert set(grpc) == {"grpc"}
        assert grpc["grpc"]["endpoint"].endswith(f":{observability.OTLP_GRPC_PORT}")
        # Spans never reach a log: the debug exporter prints counts only.
        assert config["exporters"] == {"debug": {"verbosity": "basic"}}


# ------------------------------------------------------------------------ series read


def unknown_series(model: dict[str, Any], rules: dict[str, Any]) -> set[str]:
    """Series the dashboard or the rules read that no process of the project exports."""
    exprs = _exprs(model) + [r["expr"] for g in rules["groups"] for r in g["rules"]]
    read = {name for e in exprs for name in series.referenced(e)}
    return read - series.exported()


def test_dashboard_and_rules_read_only_exported_series() -> None:
    exported = series.exported()
    assert len(series.sdk_core()) > 50  # the Core source was found and read
    assert exported >= dashboard.SDK_SERIES
    for board, rules in zip(DASHBOARDS, RULES, strict=True):
        assert unknown_series(json.loads(board.read_text()), _load(rules)) == set()


def _add_query(expr: str) -> Callable[[dict[str, Any]], None]:
    def mutate(model: dict[str, Any]) -> None:
        model["panels"][1]["targets"].append({"refId": "Z", "expr": expr})

    return mutate


MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "a series nobody exports": _add_query("sum(orders_payments_total)"),
    "an SDK histogram with a unit suffix the runtime does not add": _add_query(
        "rate(temporal_workflow_task_schedule_to_start_latency_seconds_bucket[5m])"
    ),
    "an SDK counter without its _total": _add_query("rate(temporal_request_failure[5m])"),
    "a project counter under its registry name": _add_query(
        "increase(orders_credential_generations[5m])"
    ),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_checker_catches(mutation: str) -> None:
    model = copy.deepcopy(json.loads(DASHBOARDS[0].read_text()))
    MUTATIONS[mutation](model)
    assert unknown_series(model, _load(RULES[0])), mutation


def test_openbao_serves_prometheus_metrics_to_a_token_only() -> None:
    """Without ``telemetry``, ``format=prometheus`` answers 400: the scrape would fail."""
    compose_hcl = package_file(compose_infra.OPENBAO_HCL)
    kind_map = yaml.safe_load((ROOT / "k8s/overlays/kind/infra/openbao/configmap.yaml").read_text())
    for hcl in (compose_hcl, kind_map["data"]["config.hcl"]):
        assert re.search(r'prometheus_retention_time\s*=\s*"[1-9]', hcl)
        assert "unauthenticated_metrics_access" not in hcl
