"""Compose and kind hand each setup step its own OpenBao token; none mounts a root token.

``unseal`` (compose ``openbao-init``, kind Job ``openbao-unseal``) is the only step that
holds a root token, in memory: it writes every later step's token where only that step
reads it and revokes the root token (``tests/component/deploy/test_setup_tokens.py`` shows it on
a real OpenBao). Offline, on the rendered compose model and the built kind overlay, with
mutated copies that must be caught.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from orders.deploy.compose_steps import step_volume
from orders.deploy.render import load_compose
from orders.deploy.setup_tokens import Step

COMPOSE_STEPS = {
    Step.PKI: "pki",
    Step.CONFIGURE: "setup",
    Step.NAMESPACE: "temporal-namespace",
    Step.PROMOTE: "temporal-promote",
}
KIND_JOBS = {
    Step.PKI: "vault-pki",
    Step.CONFIGURE: "vault-configure",
    Step.NAMESPACE: "temporal-namespace",
    Step.PROMOTE: "temporal-promote",
}


def _sources(service: dict[str, Any]) -> set[str]:
    return {v["source"] for v in service.get("volumes", ()) if isinstance(v, dict)}


def compose_problems(services: dict[str, Any]) -> list[str]:
    """Why a compose step could reach a root token or another step's token ([] if none)."""
    found = []
    keys = sorted(n for n, s in services.items() if "openbao-init" in _sources(s))
    if keys != ["openbao-init"]:
        found.append(f"the unseal key's volume is mounted by {keys}")
    unseal = services["openbao-init"]["command"]
    for step, name in COMPOSE_STEPS.items():
        users = sorted(n for n, s in services.items() if step_volume(step) in _sources(s))
        if users != sorted(["openbao-init", name]):
            found.append(f"{step_volume(step)} is mounted by {users}")
        if not any(a.startswith(f"{step.value}=") for a in unseal):
            found.append(f"openbao-init hands {step.value} no token")
        if "--root-token-file" in services[name]["command"]:
            found.append(f"{name} takes a root token")
    return found


def test_compose_steps_hold_only_their_own_token() -> None:
    assert compose_problems(load_compose()["services"]) == []


def _mount(service: str, volume: str) -> Callable[[dict[str, Any]], None]:
    def mutate(services: dict[str, Any]) -> None:
        services[service]["volumes"].append({"type": "volume", "source": volume, "target": "/x"})

    return mutate


def _drop_hand_over(services: dict[str, Any]) -> None:
    cmd = services["openbao-init"]["command"]
    services["openbao-init"]["command"] = [a for a in cmd if not a.startswith("namespace=")]


COMPOSE_MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "pki mounts the unseal key's volume": _mount("pki", "openbao-init"),
    "setup mounts the namespace step's token": _mount("setup", step_volume(Step.NAMESPACE)),
    "a worker mounts the configure token": _mount("order-notify", step_volume(Step.CONFIGURE)),
    "no token for the namespace step": _drop_hand_over,
}


@pytest.mark.parametrize("name", sorted(COMPOSE_MUTATIONS))
def test_compose_mutations_are_caught(name: str) -> None:
    services = copy.deepcopy(load_compose()["services"])
    COMPOSE_MUTATIONS[name](services)
    assert compose_problems(services), name


def _pods(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for obj in objects:
        spec = obj.get("spec", {})
        template = spec.get("template") or spec.get("jobTemplate", {}).get("spec", {}).get(
            "template"
        )
        if template:
            out[f"{obj['kind']}/{obj['metadata']['name']}"] = template["spec"]
    return out


def _secrets_of(pod: dict[str, Any]) -> set[str]:
    names = set()
    for vol in pod.get("volumes", ()):
        if "secret" in vol:
            names.add(vol["secret"]["secretName"])
        for src in vol.get("projected", {}).get("sources", ()):
            if "secret" in src:
                names.add(src["secret"]["name"])
    return names


def kind_problems(objects: list[dict[str, Any]]) -> list[str]:
    """Why a kind pod could reach a root token or another Job's token ([] if none)."""
    found = []
    pods = _pods(objects)
    for name, pod in pods.items():
        if "openbao-init" in _secrets_of(pod):
            found.append(f"{name} mounts the openbao-init Secret")
    unseal = [a for c in pods["Job/openbao-unseal"]["containers"] for a in c["command"]]
    for step, job in KIND_JOBS.items():
        secret = f"openbao-step-{step.value}"
        users = sorted(n for n, p in pods.items() if secret in _secrets_of(p))
        if users != [f"Job/{job}"]:
            found.append(f"{secret} is mounted by {users}")
        if f"{step.value}={secret}" not in unseal:
            found.append(f"openbao-unseal hands {step.value} no token")
        args = [a for c in pods[f"Job/{job}"]["containers"] for a in c["command"]]
        if "--root-token-file" in args:
            found.append(f"{job} takes a root token")
    return found


def test_kind_jobs_hold_only_their_own_token(kind_objects: list[dict[str, Any]]) -> None:
    assert kind_problems(kind_objects) == []


def _job(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == "Job" and o["metadata"]["name"] == name)


def _kind_mount(job: str, secret: str) -> Callable[[list[dict[str, Any]]], None]:
    def mutate(objects: list[dict[str, Any]]) -> None:
        _job(objects, job)["spec"]["template"]["spec"]["volumes"].append(
            {"name": "extra", "secret": {"secretName": secret}}
        )

    return mutate


def _kind_drop(objects: list[dict[str, Any]]) -> None:
    container = _job(objects, "openbao-unseal")["spec"]["template"]["spec"]["containers"][0]
    container["command"] = [a for a in container["command"] if not a.startswith("pki=")]


KIND_MUTATIONS: dict[str, Callable[[list[dict[str, Any]]], None]] = {
    "vault-pki mounts openbao-init (the old root token)": _kind_mount("vault-pki", "openbao-init"),
    "temporal-namespace mounts the configure token": _kind_mount(
        "temporal-namespace", "openbao-step-configure"
    ),
    "no token for the pki Job": _kind_drop,
}


@pytest.mark.parametrize("name", sorted(KIND_MUTATIONS))
def test_kind_mutations_are_caught(kind_objects: list[dict[str, Any]], name: str) -> None:
    objects = copy.deepcopy(kind_objects)
    KIND_MUTATIONS[name](objects)
    assert kind_problems(objects), name
