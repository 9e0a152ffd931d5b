"""An authorizing Temporal server still boots in compose and kind (offline).

The ``default`` authorizer denies every call without claims except the health-check APIs
(``grpc.health.v1.Health/Check``, ``GetSystemInfo``). So: the compose healthcheck is
``temporal operator cluster health``; ``temporalio/server`` sets nothing up (not the
deprecated ``auto-setup``, whose CLI calls carried no token); a one-shot step registers
the namespace once Temporal is healthy and before any worker, holding the root token only
to mint its admin JWT; kind runs the same step as a Job that ``k8s/kind.sh`` waits for
before the workers.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from orders.contract import identities
from orders.deploy import common, compose_infra, render
from orders.deploy.common import ROOT
from orders.deploy.compose_infra import NAMESPACE_STEP

STEP_COMMAND = ["python", "-m", "orders.deploy.setup", "namespace"]
# Exactly what the default authorizer admits without claims (IsHealthCheckAPI).
HEALTH_COMMANDS = (["temporal", "operator", "cluster", "health"],)


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose: dict[str, Any] = render.load_compose()
    found: dict[str, Any] = compose["services"]
    return found


def _find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    [container] = workload["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def _option(args: list[str], name: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == name]


def test_compose_healthcheck_calls_only_a_health_api(services: dict[str, Any]) -> None:
    test = services["temporal"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert any(test[1 : 1 + len(cmd)] == cmd for cmd in HEALTH_COMMANDS), test
    # No namespace-scoped call (describe, list, ...) that needs claims.
    assert "--namespace" not in test
    assert "namespace" not in test


@pytest.mark.parametrize("where", ["compose", "kind"])
def test_the_server_image_sets_nothing_up(
    where: str, services: dict[str, Any], kind_objects: list[dict[str, Any]]
) -> None:
    if where == "compose":
        svc = services["temporal"]
        image, script = svc["image"], svc["entrypoint"][-1]
    else:
        container = _container(_find(kind_objects, "Deployment", "temporal"))
        image, script = container["image"], container["command"][-1]
    assert image.startswith("temporalio/server:"), image
    # The image's entrypoint with no `autosetup` argument: render the config, serve.
    assert script.endswith("exec /etc/temporal/entrypoint.sh"), script


def test_kind_temporal_probes_need_no_token(kind_objects: list[dict[str, Any]]) -> None:
    container = _container(_find(kind_objects, "Deployment", "temporal"))
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        spec = container[probe]
        # A TCP connect never reaches the authorizer; a gRPC probe would be Health/Check.
        assert "tcpSocket" in spec or "grpc" in spec, (probe, spec)


def test_compose_step_runs_after_healthy_temporal_and_setup(services: dict[str, Any]) -> None:
    step = services[NAMESPACE_STEP]
    assert step["command"][:4] == STEP_COMMAND
    assert step["restart"] == "no"
    # Temporal answers through the front (which waits for a healthy Temporal).
    assert step["depends_on"]["temporal-front"] == {"condition": "service_healthy"}
    assert services["temporal-front"]["depends_on"]["temporal"] == {"condition": "service_healthy"}
    # `setup` applies the admin token roles the step mints its JWT with.
    assert step["depends_on"]["setup"] == {"condition": "service_completed_successfully"}
    args = step["command"]
    assert _option(args, "--temporal-address") == [compose_infra.COMPOSE_TEMPORAL]
    assert _option(args, "--token-file"), "it mints the admin JWT with its own step token"
    assert _option(args, "--temporal-ca-file"), "mTLS towards the frontend"
    # Its own token's volume (never the root token's) read-only, and no password secret.
    [state] = [
        v
        for v in step["volumes"]
        if isinstance(v, dict) and v["source"] == "openbao-token-namespace"
    ]
    assert state["read_only"] is True
    assert "secrets" not in step


def test_every_worker_starts_after_the_namespace_exists(services: dict[str, Any]) -> None:
    for ident in identities.workers():
        deps = services[ident.name]["depends_on"]
        assert deps[NAMESPACE_STEP] == {"condition": "service_completed_successfully"}, ident
    # Nothing the step waits for waits for it (no cycle), and the UI does not need it.
    assert NAMESPACE_STEP not in services["temporal"]["depends_on"]
    assert NAMESPACE_STEP not in services["setup"]["depends_on"]


def test_kind_job_registers_with_the_same_step(kind_objects: list[dict[str, Any]]) -> None:
    job = _find(kind_objects, "Job", NAMESPACE_STEP)
    assert job["metadata"]["namespace"] == common.INFRA_NAMESPACE
    container = _container(job)
    args: list[str] = container["command"]
    assert args[:4] == STEP_COMMAND
    assert _option(args, "--temporal-address") == [f"{common.TEMPORAL.host}:{common.TEMPORAL.port}"]
    [root_file] = _option(args, "--token-file")
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    secret = volumes[mounts[root_file.rsplit("/", 1)[0]]]["secret"]["secretName"]
    assert secret == "openbao-step-namespace"
    # No Kubernetes API right: it talks to OpenBao and Temporal only.
    assert job["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_kind_script_waits_for_the_job_before_the_workers() -> None:
    script = (ROOT / "k8s" / "kind.sh").read_text()
    lines = script.splitlines()

    def line_of(pattern: str) -> int:
        [index] = [i for i, line in enumerate(lines) if re.search(pattern, line)]
        return index

    configure = line_of(r"wait --for=condition=complete job/vault-configure")
    step = line_of(rf"wait --for=condition=complete job/{NAMESPACE_STEP}")
    workers = line_of(r"wait --for=condition=Available deployment")
    assert configure < step < workers
    # Re-run on every `up`, like the other setup Jobs (Jobs are immutable).
    deleted = next(line for line in lines if "delete job openbao-unseal" in line)
    following = lines[lines.index(deleted) + 1]
    assert NAMESPACE_STEP in deleted + following
