"""kind: the Postgres superuser exists only inside the Postgres pod, over its socket.

The built overlay: the ``postgres-superuser`` Secret is mounted by the Postgres pod only
(its server and its ``db-bootstrap`` container), no object carries a superuser DSN or the
bootstrap flag, ``db-bootstrap`` is hardened and reaches the socket read-only, the
evidence password is for ``db-bootstrap`` alone, and ``k8s/kind.sh`` hands the demo the
evidence role, not the superuser. (pg_hba: ``test_tls_hops.py``; the role itself, on a real
Postgres: ``tests/component/db/test_evidence_role.py``.) Offline, with mutated copies caught.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from orders.deploy.common import ROOT

SUPERUSER = "postgres-superuser"
EVIDENCE = "postgres-evidence"
VAULT_ADMIN = "vault-dbadmin"
BOOTSTRAP = "db-bootstrap"
SOCKET_DIR = "/var/run/postgresql"
Objects = list[dict[str, Any]]
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")


def _pods(objects: Objects) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in objects:
        if obj["kind"] in WORKLOADS:
            spec = obj["spec"]
            spec = spec.get("jobTemplate", {}).get("spec", spec)
            pod = spec["template"]["spec"] if "template" in spec else spec
            yield f"{obj['kind']}/{obj['metadata']['name']}", pod


def _secret_users(objects: Objects, secret: str) -> set[str]:
    """``Kind/name:container`` of every container that can read ``secret``."""
    users: set[str] = set()
    for name, pod in _pods(objects):
        volumes = set()
        for vol in pod.get("volumes", []):
            sources = [vol, *vol.get("projected", {}).get("sources", [])]
            if any(s.get("secret", {}).get("secretName") == secret for s in sources):
                volumes.add(vol["name"])
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            env = json.dumps([c.get("env", []), c.get("envFrom", [])])
            if {m["name"] for m in c.get("volumeMounts", [])} & volumes or f'"{secret}"' in env:
                users.add(f"{name}:{c['name']}")
    return users


def problems(objects: Objects, kind_sh: str) -> list[str]:
    """Where the superuser leaves the Postgres pod ([] if it does not)."""
    found: list[str] = []
    want = {"StatefulSet/postgres:postgres", f"StatefulSet/postgres:{BOOTSTRAP}"}
    if _secret_users(objects, SUPERUSER) != want:
        found.append(f"{SUPERUSER} readable by {sorted(_secret_users(objects, SUPERUSER))}")
    if _secret_users(objects, EVIDENCE) != {f"StatefulSet/postgres:{BOOTSTRAP}"}:
        found.append(f"{EVIDENCE} readable by {sorted(_secret_users(objects, EVIDENCE))}")
    admin = {f"StatefulSet/postgres:{BOOTSTRAP}", "Job/vault-configure:configure"}
    if _secret_users(objects, VAULT_ADMIN) != admin:
        found.append(f"{VAULT_ADMIN} readable by {sorted(_secret_users(objects, VAULT_ADMIN))}")
    text = json.dumps(objects)
    for needle in (
        "--pg-superuser-password-file",
        "postgresql://postgres:",
        "postgres://postgres:",
    ):
        if needle in text:
            found.append(f"the overlay carries {needle!r}")
    pods = dict(_pods(objects))
    containers = {c["name"]: c for c in pods.get("StatefulSet/postgres", {}).get("containers", [])}
    boot = containers.get(BOOTSTRAP)
    if boot is None:
        return [*found, "the Postgres pod has no db-bootstrap container"]
    sc = boot.get("securityContext", {})
    hardened = (
        sc.get("readOnlyRootFilesystem") is True
        and sc.get("allowPrivilegeEscalation") is False
        and sc.get("runAsNonRoot") is True
        and sc.get("capabilities", {}).get("drop") == ["ALL"]
        and not sc.get("capabilities", {}).get("add")
    )
    if not hardened:
        found.append(f"db-bootstrap is not hardened: {sc}")
    mounts = {m["mountPath"]: m for m in boot.get("volumeMounts", [])}
    if mounts.get(SOCKET_DIR, {}).get("readOnly") is not True:
        found.append("db-bootstrap does not mount the socket directory read-only")
    args = boot.get("command", [])
    if args[:3] != ["python", "-m", "orders.deploy.db_bootstrap"]:
        found.append(f"db-bootstrap runs {args[:3]}")
    ready = args[args.index("--ready-file") + 1] if "--ready-file" in args else None
    probe = boot.get("readinessProbe", {}).get("exec", {}).get("command", [])
    if ready is None or probe[-1:] != [ready]:
        found.append("the pod is ready before the bootstrap is done (readinessProbe)")
    for line in kind_sh.splitlines():
        if "get secret" in line and SUPERUSER in line:
            found.append(f"kind.sh reads the superuser password: {line.strip()}")
    if f"get secret {EVIDENCE}" not in kind_sh or "--evidence-password-file" not in kind_sh:
        found.append("kind.sh does not hand the demo the evidence role")
    return found


KIND_SH = (ROOT / "k8s" / "kind.sh").read_text()


def test_the_superuser_stays_in_the_postgres_pod(kind_objects: Objects) -> None:
    assert problems(kind_objects, KIND_SH) == []


def _pod(objects: Objects, kind: str, name: str) -> dict[str, Any]:
    return dict(_pods(objects))[f"{kind}/{name}"]


def _container(objects: Objects, kind: str, name: str, container: str) -> dict[str, Any]:
    pod = _pod(objects, kind, name)
    return next(c for c in pod["containers"] if c["name"] == container)


def _mount_secret(kind: str, name: str, container: str, secret: str) -> Callable[[Objects], None]:
    def mutate(objects: Objects) -> None:
        _pod(objects, kind, name)["volumes"].append(
            {"name": "stolen", "secret": {"secretName": secret}}
        )
        c = _container(objects, kind, name, container)
        c.setdefault("volumeMounts", []).append({"name": "stolen", "mountPath": "/run/stolen"})

    return mutate


def _configure_bootstraps(objects: Objects) -> None:
    _mount_secret("Job", "vault-configure", "configure", SUPERUSER)(objects)
    c = _container(objects, "Job", "vault-configure", "configure")
    c["command"] += ["--pg-superuser-password-file", "/run/stolen/password"]


def _env_ref(objects: Objects) -> None:
    c = _container(objects, "Job", "temporal-namespace", "namespace")
    ref = {"secretKeyRef": {"name": SUPERUSER, "key": "password"}}
    c.setdefault("env", []).append({"name": "PGPASSWORD", "valueFrom": ref})


def _dsn_in_configmap(objects: Objects) -> None:
    cm = next(o for o in objects if o["kind"] == "ConfigMap")
    cm.setdefault("data", {})["DSN"] = "postgresql://postgres:x@postgres.orders.local/orders"


def _boot(change: Callable[[dict[str, Any]], None]) -> Callable[[Objects], None]:
    def mutate(objects: Objects) -> None:
        change(_container(objects, "StatefulSet", "postgres", BOOTSTRAP))

    return mutate


def _socket_writable(c: dict[str, Any]) -> None:
    for m in c["volumeMounts"]:
        if m["mountPath"] == SOCKET_DIR:
            m["readOnly"] = False


def _no_bootstrap(objects: Objects) -> None:
    pod = _pod(objects, "StatefulSet", "postgres")
    pod["containers"] = [c for c in pod["containers"] if c["name"] != BOOTSTRAP]


MUTATIONS: dict[str, tuple[Callable[[Objects], None], str]] = {
    "vault-configure bootstraps as superuser again": (_configure_bootstraps, KIND_SH),
    "a worker mounts the superuser Secret": (
        _mount_secret("Deployment", "order-notify", "activity-worker", SUPERUSER),
        KIND_SH,
    ),
    "the superuser password as a Job's env": (_env_ref, KIND_SH),
    "a superuser DSN in a ConfigMap": (_dsn_in_configmap, KIND_SH),
    "the server container reads the evidence password": (
        _mount_secret("StatefulSet", "postgres", "postgres", EVIDENCE),
        KIND_SH,
    ),
    "db-bootstrap with a writable root": (
        _boot(lambda c: c["securityContext"].update(readOnlyRootFilesystem=False)),
        KIND_SH,
    ),
    "db-bootstrap with capabilities": (
        _boot(lambda c: c["securityContext"]["capabilities"].update(add=["SYS_ADMIN"])),
        KIND_SH,
    ),
    "db-bootstrap writes the socket directory": (_boot(_socket_writable), KIND_SH),
    "the pod ready before the bootstrap": (_boot(lambda c: c.pop("readinessProbe")), KIND_SH),
    "no db-bootstrap container": (_no_bootstrap, KIND_SH),
    "kind.sh hands the demo the superuser": (
        lambda objects: None,
        KIND_SH.replace(f"get secret {EVIDENCE}", f"get secret {SUPERUSER}"),
    ),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutation_is_caught(kind_objects: Objects, name: str) -> None:
    mutate, kind_sh = MUTATIONS[name]
    objects = copy.deepcopy(kind_objects)
    mutate(objects)
    assert problems(objects, kind_sh), f"not caught: {name}"
