"""compose and kind: versioned workflow workers and the step that makes their version current.

A workflow worker polling as a Worker Deployment version receives new runs only once its
version is current; in compose and kind the ``temporal-promote`` step (``setup promote``)
makes it current, as ``temporal-admin`` with its own step token, reaching OpenBao and the
front only. The build ID is the image's (``orders.rollout.code_build_id``: the worker and
the step run the same image and compute it alike): no manifest writes one down. Offline,
on the rendered compose model and the built kind overlay, with mutated copies caught.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from orders.contract import identities
from orders.contract.identities import Kind
from orders.deploy import compose_networks, front
from orders.deploy.common import ROOT
from orders.deploy.compose_infra import PROMOTE_STEP
from orders.deploy.render import load_compose

Objects = list[dict[str, Any]]
VERSIONING = "ORDERS_WORKER_VERSIONING"
BUILD_ID = "ORDERS_BUILD_ID"
WORKFLOW = {i.name for i in identities.workers() if i.kind is Kind.WORKFLOW}
IDENTITY_NAMES = {i.name for i in identities.ALL} | {i.service_account for i in identities.ALL}
COMPOSE_NETS = {compose_networks.Net.VAULT.value, compose_networks.Net.FRONT.value}
KIND_EGRESS = {"kube-dns", "openbao", front.NAME}


def _setup_step(command: list[str]) -> str | None:
    """The ``orders.deploy.setup`` step a command runs (None: another command)."""
    if command[:3] == ["python", "-m", "orders.deploy.setup"] and len(command) > 3:
        return command[3]
    return None


def _env(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    return {k: v for k, v in env.items() if k != "<<"}


def compose_problems(services: dict[str, Any]) -> list[str]:
    """Why versioned workers in ``services`` could wait forever, or the step is too wide."""
    out: list[str] = []
    steps = [n for n, s in services.items() if _setup_step(s.get("command") or []) == "promote"]
    versioned = {n for n, s in services.items() if str(_env(s).get(VERSIONING)) == "true"}
    if versioned != WORKFLOW:
        out.append(f"versioned services {sorted(versioned)} != workflow workers {sorted(WORKFLOW)}")
    for name, svc in services.items():
        if BUILD_ID in _env(svc):
            out.append(f"{name}: a build id written down ({BUILD_ID}); the image's is used")
    if steps != [PROMOTE_STEP]:
        return [*out, f"versioned workers {sorted(versioned)}, promote steps {steps}"]
    step = services[PROMOTE_STEP]
    nets = set(step.get("networks") or ())
    if nets != COMPOSE_NETS:
        out.append(f"{PROMOTE_STEP}: networks {sorted(nets)} != {sorted(COMPOSE_NETS)}")
    if step.get("restart") != "no":
        out.append(f"{PROMOTE_STEP}: restarts ({step.get('restart')})")
    for worker in versioned:
        if step["image"] != services[worker]["image"]:
            out.append(f"{PROMOTE_STEP}: image {step['image']} is not {worker}'s")
        if (step.get("depends_on") or {}).get(worker) != {"condition": "service_healthy"}:
            out.append(f"{PROMOTE_STEP}: does not wait for {worker} to poll (healthy)")
    if _env(step):
        out.append(f"{PROMOTE_STEP}: has an identity's settings {sorted(_env(step))}")
    sources = {
        v["source"] for v in step.get("volumes") or () if isinstance(v, dict) and "source" in v
    }
    if sources != {"openbao-token-promote", "tls-ca"}:
        out.append(f"{PROMOTE_STEP}: mounts {sorted(sources)}")
    if step.get("secrets"):
        out.append(f"{PROMOTE_STEP}: secrets {step['secrets']}")
    return out


COMPOSE: dict[str, Any] = load_compose()


def test_compose_versions_the_workflow_workers_and_promotes_them() -> None:
    assert compose_problems(COMPOSE["services"]) == []
    assert COMPOSE["services"][PROMOTE_STEP]["command"][3] == "promote"


def _drop_step(services: dict[str, Any]) -> None:
    del services[PROMOTE_STEP]


def _add_net(net: str) -> Callable[[dict[str, Any]], None]:
    return lambda services: services[PROMOTE_STEP]["networks"].append(net)


def _as_worker(services: dict[str, Any]) -> None:
    worker = services[identities.ORDER_WORKFLOW.name]
    services[PROMOTE_STEP]["environment"] = dict(worker["environment"])
    services[PROMOTE_STEP]["volumes"] += worker["volumes"]


def _pin_build(services: dict[str, Any]) -> None:
    services[identities.ORDER_WORKFLOW.name]["environment"][BUILD_ID] = "v1"


def _version_activities(services: dict[str, Any]) -> None:
    services[identities.ORDER_NOTIFY.name]["environment"][VERSIONING] = "true"


def _no_wait(services: dict[str, Any]) -> None:
    del services[PROMOTE_STEP]["depends_on"][identities.ORDER_WORKFLOW.name]


COMPOSE_MUTANTS: dict[str, Callable[[dict[str, Any]], None]] = {
    "versioned workers and no promote step": _drop_step,
    "the promote step on the database network": _add_net("postgres"),
    "the promote step on the identity endpoint's network": _add_net("identity"),
    "the promote step running as the workflow worker's identity": _as_worker,
    "a build id written into a worker's settings": _pin_build,
    "an activity worker versioned": _version_activities,
    "the promote step not waiting for the workers": _no_wait,
}


@pytest.mark.parametrize("name", sorted(COMPOSE_MUTANTS))
def test_compose_mutants_are_caught(name: str) -> None:
    services = copy.deepcopy(COMPOSE["services"])
    COMPOSE_MUTANTS[name](services)
    assert compose_problems(services), name


# --------------------------------------------------------------------------- kind


def _workloads(objects: Objects) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            yield obj, obj["spec"]["template"]["spec"]


def _env_of(pod: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value") for c in pod["containers"] for e in c.get("env", ())}


def _policies(objects: Objects, name: str) -> list[dict[str, Any]]:
    """The NetworkPolicies of ``orders-infra`` selecting the pods named ``name``."""
    return [
        obj
        for obj in objects
        if obj["kind"] == "NetworkPolicy"
        and obj["metadata"]["namespace"] == front.INFRA
        and obj["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name") == name
    ]


def _rules(objects: Objects, name: str, direction: str) -> list[dict[str, Any]]:
    return [r for p in _policies(objects, name) for r in p["spec"].get(direction) or ()]


def _peers(rule: dict[str, Any]) -> set[str]:
    """Names of the pods a NetworkPolicy rule admits (``*`` for anything wider)."""
    out: set[str] = set()
    for peer in rule.get("to") or rule.get("from") or [{}]:
        pods = peer.get("podSelector")
        if pods is None:
            out.add("*")
            continue
        labels = pods.get("matchLabels", {})
        if labels:
            out.add(labels.get("app.kubernetes.io/name") or labels.get("k8s-app") or "*")
        for expr in pods.get("matchExpressions", ()):
            out.update(expr["values"])
    return out


def kind_problems(objects: Objects, kind_sh: str) -> list[str]:
    """Why versioned workers on kind could wait forever, or the promote Job is too wide."""
    out: list[str] = []
    versioned = {
        obj["metadata"]["name"]
        for obj, pod in _workloads(objects)
        if obj["kind"] == "Deployment" and _env_of(pod).get(VERSIONING) == "true"
    }
    if versioned != WORKFLOW:
        out.append(f"versioned Deployments {sorted(versioned)} != {sorted(WORKFLOW)}")
    for obj, pod in _workloads(objects):
        if BUILD_ID in _env_of(pod):
            out.append(f"{obj['metadata']['name']}: a build id written down ({BUILD_ID})")
    jobs = [
        (obj, pod)
        for obj, pod in _workloads(objects)
        if obj["kind"] == "Job"
        and any(_setup_step(c.get("command") or []) == "promote" for c in pod["containers"])
    ]
    if [o["metadata"]["name"] for o, _ in jobs] != [PROMOTE_STEP]:
        return [*out, f"versioned workers {sorted(versioned)}, promote Jobs {len(jobs)}"]
    job, pod = jobs[0]
    if job["metadata"]["namespace"] != front.INFRA:
        out.append(f"{PROMOTE_STEP}: in namespace {job['metadata']['namespace']}")
    account = pod.get("serviceAccountName")
    if account != PROMOTE_STEP or account in IDENTITY_NAMES:
        out.append(f"{PROMOTE_STEP}: runs as ServiceAccount {account}")
    if pod.get("automountServiceAccountToken") is not False:
        out.append(f"{PROMOTE_STEP}: holds an API token")
    secrets = {v["secret"]["secretName"] for v in pod.get("volumes", ()) if "secret" in v}
    if secrets != {"openbao-step-promote"}:
        out.append(f"{PROMOTE_STEP}: mounts Secrets {sorted(secrets)}")
    if any("projected" in v for v in pod.get("volumes", ())):
        out.append(f"{PROMOTE_STEP}: mounts a projected (ServiceAccount) token")
    images = {c["image"] for o, p in _workloads(objects) if o["metadata"]["name"] in WORKFLOW
              for c in p["containers"]}  # fmt: skip
    if {c["image"] for c in pod["containers"]} != images:
        out.append(f"{PROMOTE_STEP}: image is not the workflow workers' {sorted(images)}")
    if not _policies(objects, PROMOTE_STEP):
        return [*out, f"{PROMOTE_STEP}: no NetworkPolicy"]
    if _rules(objects, PROMOTE_STEP, "ingress"):
        out.append(f"{PROMOTE_STEP}: admits ingress")
    egress = set().union(*(_peers(r) for r in _rules(objects, PROMOTE_STEP, "egress")))
    if egress != KIND_EGRESS:
        out.append(f"{PROMOTE_STEP}: egress to {sorted(egress)} != {sorted(KIND_EGRESS)}")
    admitted = set().union(*(_peers(r) for r in _rules(objects, front.NAME, "ingress")))
    if PROMOTE_STEP not in admitted:
        out.append(f"the front does not admit {PROMOTE_STEP}")
    if f"job/{PROMOTE_STEP}" not in kind_sh:
        out.append(f"k8s/kind.sh never waits for job/{PROMOTE_STEP}")
    return out


KIND_SH = (ROOT / "k8s" / "kind.sh").read_text()


def test_kind_versions_the_workflow_workers_and_promotes_them(kind_objects: Objects) -> None:
    assert kind_problems(kind_objects, KIND_SH) == []


def _find(objects: Objects, kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def _job_pod(objects: Objects) -> dict[str, Any]:
    pod: dict[str, Any] = _find(objects, "Job", PROMOTE_STEP)["spec"]["template"]["spec"]
    return pod


def _k_drop(objects: Objects) -> None:
    objects.remove(_find(objects, "Job", PROMOTE_STEP))


def _k_postgres(objects: Objects) -> None:
    _policies(objects, PROMOTE_STEP)[0]["spec"]["egress"].append(
        {"to": [front.pods(front.INFRA, ("postgres",))], "ports": front.tcp(5432)}
    )


def _k_worker_identity(objects: Objects) -> None:
    _job_pod(objects)["serviceAccountName"] = identities.ORDER_WORKFLOW.service_account


def _k_worker_token(objects: Objects) -> None:
    worker = _find(objects, "Deployment", identities.ORDER_WORKFLOW.name)
    _job_pod(objects)["volumes"] += worker["spec"]["template"]["spec"]["volumes"]


def _k_pin(objects: Objects) -> None:
    pod = _find(objects, "Deployment", identities.ORDER_WORKFLOW.name)["spec"]["template"]["spec"]
    pod["containers"][0]["env"].append({"name": BUILD_ID, "value": "v1"})


def _k_image(objects: Objects) -> None:
    _job_pod(objects)["containers"][0]["image"] = "hardened-orders:other"


def _k_front(objects: Objects) -> None:
    for rule in _rules(objects, front.NAME, "ingress"):
        for peer in rule["from"]:
            for expr in peer["podSelector"].get("matchExpressions", ()):
                expr["values"] = [v for v in expr["values"] if v != PROMOTE_STEP]


KIND_MUTANTS: dict[str, Callable[[Objects], None]] = {
    "the front not admitting the promote Job": _k_front,
    "versioned workers and no promote Job": _k_drop,
    "the promote Job allowed to Postgres": _k_postgres,
    "the promote Job as the workflow worker's ServiceAccount": _k_worker_identity,
    "the promote Job mounting a worker's Vault token": _k_worker_token,
    "a build id written into the workflow Deployment": _k_pin,
    "the promote Job from another image": _k_image,
}


@pytest.mark.parametrize("name", sorted(KIND_MUTANTS))
def test_kind_mutants_are_caught(kind_objects: Objects, name: str) -> None:
    objects = copy.deepcopy(kind_objects)
    KIND_MUTANTS[name](objects)
    assert kind_problems(objects, KIND_SH), name


def test_kind_sh_without_the_wait_is_caught(kind_objects: Objects) -> None:
    assert kind_problems(kind_objects, KIND_SH.replace(f"job/{PROMOTE_STEP}", "job/x"))


def test_no_rendered_file_writes_a_build_id_down() -> None:
    rendered = [ROOT / "docker-compose.yml", *sorted((ROOT / "k8s").rglob("*.yaml"))]
    assert [p for p in rendered if BUILD_ID in p.read_text()] == []
