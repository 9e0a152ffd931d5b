"""The KEDA and production (external) overlays: built, checked, hardened (offline).

kubernetes-validate covers both overlays' Kubernetes objects (``test_tools.py``, every
overlay); it has no schema for KEDA's kinds, so :func:`keda_violations` checks those by
hand: one ScaledObject per worker Deployment, on that identity's own queue, through the
front. :func:`external_violations`: no server of ours, every egress to the outside is the
contract's (Temporal: workers; Postgres: identities with a DB role). checkov runs on both.
Mutated copies must be caught.
"""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from orders.contract import identities
from orders.contract.temporal_access import TemporalAccess
from orders.deploy import front, overlays
from orders.deploy.common import ROOT
from orders.front import rules as front_rules
from tests.support.deploy import kustomize

KEDA_KEYS = {
    "endpoint",
    "namespace",
    "taskQueue",
    "queueTypes",
    "targetQueueSize",
    "activationTargetQueueSize",
    "tlsServerName",
}
"""Trigger metadata this overlay uses (all documented for KEDA's temporal scaler)."""


def _built(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(kustomize(ROOT / "k8s" / "overlays" / name)) if d]


@pytest.fixture(scope="module")
def keda() -> list[dict[str, Any]]:
    return _built("keda")


@pytest.fixture(scope="module")
def external() -> list[dict[str, Any]]:
    return _built("external")


def keda_violations(objects: list[dict[str, Any]]) -> list[str]:
    out = []
    deployments = {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
    scaled = [o for o in objects if o["kind"] == "ScaledObject"]
    targets = [s["spec"]["scaleTargetRef"]["name"] for s in scaled]
    queues = {i.name: i.task_queue for i in identities.workers()}
    workers = set(queues)
    if sorted(targets) != sorted(workers):
        out.append(f"scaled {sorted(targets)}, workers {sorted(workers)}")
    for s in scaled:
        target = s["spec"]["scaleTargetRef"]["name"]
        if target not in deployments:
            out.append(f"{target}: no such Deployment")
        if s["spec"].get("minReplicaCount", 0) < overlays.MIN_REPLICAS:
            out.append(f"{target}: scales below the PDB's floor")
        for t in s["spec"]["triggers"]:
            md = t["metadata"]
            if t["type"] != "temporal" or set(md) - KEDA_KEYS:
                out.append(f"{target}: trigger {t['type']} {sorted(set(md) - KEDA_KEYS)}")
            if md.get("taskQueue") != queues.get(target):
                out.append(f"{target}: scales on {md.get('taskQueue')}")
            if md.get("endpoint", "").split(".")[0] != front.NAME:
                out.append(f"{target}: bypasses the front ({md.get('endpoint')})")
            if t.get("authenticationRef", {}).get("name") != overlays.KEDA_AUTH:
                out.append(f"{target}: no mTLS client certificate")
    # The client certificate is the front's keda principal's, which may read exactly these
    # backlogs (the front's rules file, as the running front enforces it).
    [auth] = [o for o in objects if o["kind"] == "TriggerAuthentication"]
    principal = auth["metadata"].get("annotations", {}).get("hardened-orders/front-principal")
    access = front_rules.load().principals.get(str(principal))
    described = set(access.describe_queues) if access else set()
    scaled_queues = {t["metadata"]["taskQueue"] for s in scaled for t in s["spec"]["triggers"]}
    if access is None or not scaled_queues <= described:
        out.append(f"TriggerAuthentication as {principal}: may describe {sorted(described)}")
    if access is not None and access != TemporalAccess(describe_queues=access.describe_queues):
        out.append(f"TriggerAuthentication as {principal}: a principal that may do more")
    return out


def external_violations(objects: list[dict[str, Any]]) -> list[str]:
    out = []
    infra = [o for o in objects if o["metadata"].get("namespace") == front.INFRA]
    out += [f"a server of ours: {o['kind']}/{o['metadata']['name']}" for o in infra]
    workloads = [*identities.workers(), identities.CODEC_SERVER, identities.ORDER_MIGRATE]
    for svc, _, _, who in overlays.EXTERNAL_SERVICES:
        [pol] = [
            o
            for o in objects
            if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == f"external-{svc}"
        ]
        [expr] = pol["spec"]["podSelector"]["matchExpressions"]
        if sorted(expr["values"]) != sorted(i.name for i in workloads if who(i)):
            out.append(f"{svc}: reached by {expr['values']}")
        for rule in pol["spec"]["egress"]:
            for peer in rule["to"]:
                if peer.get("ipBlock", {}).get("cidr", "").endswith("/0"):
                    out.append(f"{svc}: egress to everywhere")
    return out


def test_keda_overlay_scales_each_worker_on_its_own_queue(keda: list[dict[str, Any]]) -> None:
    assert keda_violations(keda) == []


def test_external_overlay_is_workers_only_with_exact_egress(
    external: list[dict[str, Any]],
) -> None:
    assert external_violations(external) == []
    [env] = [o for o in external if o["metadata"]["name"] == "orders-worker-env"]
    values = dict(
        line.split("=", 1)
        for line in (ROOT / overlays.EXTERNAL_DIR / "values.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    for dst, src in overlays.ENV_VALUES.items():
        assert env["data"][dst] == values[src], dst


def _scaled(objs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(o for o in objs if o["kind"] == "ScaledObject" and o["metadata"]["name"] == name)


KEDA_MUTATIONS: dict[str, Callable[[list[dict[str, Any]]], None]] = {
    "scales on another identity's queue": lambda o: _scaled(o, "order-notify")["spec"]["triggers"][
        0
    ]["metadata"].update(taskQueue="order-process-payment"),
    "dials Temporal's frontend directly": lambda o: _scaled(o, "order-fulfill")["spec"]["triggers"][
        0
    ]["metadata"].update(endpoint="temporal-frontend.orders-infra.svc:7233"),
    "a worker without a scaler": lambda o: o.remove(_scaled(o, "order-validate")),
    "scales to zero": lambda o: _scaled(o, "order-workflow")["spec"].update(minReplicaCount=0),
    "authenticates as the client": lambda o: next(
        x for x in o if x["kind"] == "TriggerAuthentication"
    )["metadata"]["annotations"].update({"hardened-orders/front-principal": "order-client"}),
}


@pytest.mark.parametrize("mutation", sorted(KEDA_MUTATIONS))
def test_keda_check_catches(mutation: str, keda: list[dict[str, Any]]) -> None:
    objs = copy.deepcopy(keda)
    KEDA_MUTATIONS[mutation](objs)
    assert keda_violations(objs), mutation


def _widen_db(objs: list[dict[str, Any]]) -> None:
    pol = next(o for o in objs if o["metadata"]["name"] == "external-postgres")
    pol["spec"]["podSelector"]["matchExpressions"][0]["values"].append("order-workflow")


def _everywhere(objs: list[dict[str, Any]]) -> None:
    pol = next(o for o in objs if o["metadata"]["name"] == "external-vault")
    pol["spec"]["egress"][0]["to"][0]["ipBlock"]["cidr"] = "0.0.0.0/0"


@pytest.mark.parametrize("mutation", [_widen_db, _everywhere])
def test_external_check_catches(
    mutation: Callable[[list[dict[str, Any]]], None], external: list[dict[str, Any]]
) -> None:
    objs = copy.deepcopy(external)
    mutation(objs)
    assert external_violations(objs)


@pytest.mark.parametrize("name", ["keda", "external"])
def test_checkov_finds_nothing_in_the_overlay(name: str, tools_bin: Path, tmp_path: Path) -> None:
    built = tmp_path / f"{name}.yaml"
    built.write_text(kustomize(ROOT / "k8s" / "overlays" / name))
    done = subprocess.run(
        [
            tools_bin / "checkov",
            "--config-file",
            ROOT / ".checkov.yaml",
            "--skip-download",
            "--compact",
            "-f",
            built,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "Failed checks: 0" in report
