"""The rendered kind overlay against the identity contract, and every hardening field.

:func:`violations` states the hardening explicitly, field by field, for every pod and every
container of every workload. The mutation tests delete each of those fields from each
Deployment in turn and require :func:`violations` to notice, so a check cannot silently
stop checking.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest

from orders.contract import identities
from orders.contract.identities import Kind
from orders.deploy import common, k8s_base, observability

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job", "DaemonSet"}
MIN_UID = 10000


def by_kind(objects: list[dict[str, Any]], kind: str, namespace: str | None = None) -> list[Any]:
    """Objects of ``kind`` (in ``namespace`` if given)."""
    return [
        o
        for o in objects
        if o["kind"] == kind and (namespace is None or o["metadata"].get("namespace") == namespace)
    ]


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod template's spec of a workload."""
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def _uid_ok(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= MIN_UID


def violations(obj: dict[str, Any]) -> list[str]:
    """Every hardening rule ``obj`` (a workload) breaks; empty when it is fully hardened."""
    name = f"{obj['kind']}/{obj['metadata']['name']}"
    out: list[str] = []

    def need(ok: bool, what: str) -> None:
        if not ok:
            out.append(f"{name}: {what}")

    pod = pod_spec(obj)
    psc = pod.get("securityContext", {})
    need(pod.get("automountServiceAccountToken") is False, "automountServiceAccountToken")
    need(pod.get("serviceAccountName") not in (None, "", "default"), "serviceAccountName")
    need(psc.get("runAsNonRoot") is True, "pod runAsNonRoot")
    need(_uid_ok(psc.get("runAsUser")), "pod runAsUser (numeric, high)")
    need(_uid_ok(psc.get("runAsGroup")), "pod runAsGroup (numeric, high)")
    need(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "pod seccompProfile")
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        need(not pod.get(host, False), host)
    need(
        all("hostPath" not in v for v in pod.get("volumes", [])),
        "no hostPath volumes",
    )
    long_running = obj["kind"] != "Job"
    containers = [(c, True) for c in pod.get("containers", [])]
    containers += [(c, False) for c in pod.get("initContainers", [])]
    need(bool(pod.get("containers")), "containers")
    for c, main in containers:
        cname = c.get("name", "?")
        sc = c.get("securityContext", {})
        need(sc.get("runAsNonRoot") is True, f"{cname}: runAsNonRoot")
        need(_uid_ok(sc.get("runAsUser")), f"{cname}: runAsUser (numeric, high)")
        need(_uid_ok(sc.get("runAsGroup")), f"{cname}: runAsGroup (numeric, high)")
        need(sc.get("readOnlyRootFilesystem") is True, f"{cname}: readOnlyRootFilesystem")
        need(sc.get("allowPrivilegeEscalation") is False, f"{cname}: allowPrivilegeEscalation")
        need(sc.get("privileged") is False, f"{cname}: privileged")
        caps = sc.get("capabilities", {})
        need(caps.get("drop") == ["ALL"], f"{cname}: capabilities drop ALL")
        need(not caps.get("add"), f"{cname}: no added capabilities")
        need(sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{cname}: seccomp")
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                need(resource in res.get(kind, {}), f"{cname}: resources.{kind}.{resource}")
        if main and long_running:
            need("livenessProbe" in c, f"{cname}: livenessProbe")
            need("readinessProbe" in c, f"{cname}: readinessProbe")
    return out


def identity_violations(obj: dict[str, Any], ident: identities.Identity) -> list[str]:
    """Rules specific to a workload running as ``ident``: its own SA and Vault token."""
    name = f"{obj['kind']}/{obj['metadata']['name']}"
    out: list[str] = []
    pod = pod_spec(obj)
    if pod.get("serviceAccountName") != ident.service_account:
        out.append(f"{name}: runs as {pod.get('serviceAccountName')}, not its own SA")
    tokens = [
        (v["name"], s["serviceAccountToken"])
        for v in pod.get("volumes", [])
        for s in v.get("projected", {}).get("sources", [])
        if "serviceAccountToken" in s
    ]
    if len(tokens) != 1:
        return [*out, f"{name}: expected one projected token, found {len(tokens)}"]
    volume, token = tokens[0]
    if token.get("audience") != identities.VAULT_AUDIENCE:
        out.append(f"{name}: token audience {token.get('audience')!r}")
    if not 600 <= token.get("expirationSeconds", 0) <= 3600:
        out.append(f"{name}: token lifetime {token.get('expirationSeconds')}")
    (container,) = pod["containers"]
    mounts = {m["name"]: m for m in container.get("volumeMounts", [])}
    mount = mounts.get(volume, {})
    if mount.get("readOnly") is not True:
        out.append(f"{name}: token volume not mounted read-only")
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    if env.get("ORDERS_TOKEN_FILE") != f"{mount.get('mountPath')}/{token.get('path')}":
        out.append(f"{name}: ORDERS_TOKEN_FILE does not point at the projected token")
    if env.get("ORDERS_IDENTITY") != ident.name:
        out.append(f"{name}: ORDERS_IDENTITY")
    # The only writable place is the pod's own /tmp.
    writable = {
        m["mountPath"]
        for m in container.get("volumeMounts", [])
        if not m.get("readOnly")
        and any(v["name"] == m["name"] and "emptyDir" in v for v in pod["volumes"])
    }
    others = [m for m in container.get("volumeMounts", []) if not m.get("readOnly")]
    if writable != {"/tmp"} or len(others) != 1:  # noqa: S108 - the pod's own emptyDir
        out.append(f"{name}: writable mounts {sorted(m['mountPath'] for m in others)}")
    return out


# --------------------------------------------------------------------------- contract


def test_one_deployment_and_service_account_per_worker_identity(
    kind_objects: list[dict[str, Any]],
) -> None:
    workers = {i.name for i in identities.workers()}
    deployments = Counter(
        o["metadata"]["name"] for o in by_kind(kind_objects, "Deployment", "orders")
    )
    accounts = Counter(
        o["metadata"]["name"] for o in by_kind(kind_objects, "ServiceAccount", "orders")
    )
    assert all(n == 1 for n in deployments.values()), deployments
    assert all(n == 1 for n in accounts.values()), accounts
    assert set(deployments) == workers | {identities.CODEC_SERVER.name}
    # Every identity that logs in to Vault has its ServiceAccount, and nothing else has one.
    assert set(accounts) == {i.service_account for i in identities.ALL}


def test_each_deployment_runs_as_its_own_identity_with_a_vault_token(
    kind_objects: list[dict[str, Any]],
) -> None:
    workloads = by_kind(kind_objects, "Deployment", "orders") + by_kind(
        kind_objects, "Job", "orders"
    )
    assert {o["metadata"]["name"] for o in workloads} == {i.name for i in common.workloads()}
    problems = [
        p for o in workloads for p in identity_violations(o, identities.get(o["metadata"]["name"]))
    ]
    assert problems == []


def test_worker_pods_run_their_own_identity_and_nothing_else(
    kind_objects: list[dict[str, Any]],
) -> None:
    for dep in by_kind(kind_objects, "Deployment", "orders"):
        ident = identities.get(dep["metadata"]["name"])
        if ident.is_worker:
            (c,) = pod_spec(dep)["containers"]
            assert c["command"] + c["args"] == ["python", "-m", "workers", ident.name]


def test_every_workload_is_hardened(kind_objects: list[dict[str, Any]]) -> None:
    workloads = [o for o in kind_objects if o["kind"] in WORKLOAD_KINDS]
    assert len(workloads) >= len(list(common.workloads())) + 5  # + the servers and jobs
    assert [v for o in workloads for v in violations(o)] == []


def test_namespaces_enforce_the_restricted_pod_security_standard(
    kind_objects: list[dict[str, Any]],
) -> None:
    namespaces = {o["metadata"]["name"]: o for o in by_kind(kind_objects, "Namespace")}
    assert set(namespaces) == {identities.K8S_NAMESPACE, common.INFRA_NAMESPACE}
    workload_namespaces = {
        o["metadata"]["namespace"] for o in kind_objects if o["kind"] in WORKLOAD_KINDS
    }
    assert workload_namespaces <= set(namespaces)
    for ns in namespaces.values():
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_network_policies_default_deny_plus_one_per_identity(
    kind_objects: list[dict[str, Any]],
) -> None:
    policies = {o["metadata"]["name"]: o for o in by_kind(kind_objects, "NetworkPolicy", "orders")}
    # The kind overlay's observability adds its own (test_observability_policies.py).
    observed = {n for n in policies if n.startswith("observability-")}
    policies = {n: p for n, p in policies.items() if n not in observed}
    assert observed == {f"observability-{i.name}" for i in observability.scraped()}
    assert set(policies) == {"default-deny"} | {i.name for i in common.workloads()}
    deny = policies.pop("default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    for name, policy in policies.items():
        ident = identities.get(name)
        spec = policy["spec"]
        assert spec["podSelector"]["matchLabels"] == k8s_base.selector(ident)
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        allowed = {(_peer_name(rule), p["port"]) for rule in spec["egress"] for p in rule["ports"]}
        expected = {("kube-dns", 53), ("openbao", 8200)}
        if ident.is_worker:
            expected.add(("temporal-front", 7233))  # the authorization front, never Temporal
        if ident.has_db_role:
            expected.add(("postgres", 5432))
        assert allowed == expected, name
        if ident.kind is Kind.CODEC:
            assert [p["port"] for p in spec["ingress"][0]["ports"]] == [common.CODEC_PORT]
        else:
            assert spec["ingress"] == [], f"{name} accepts connections"
    workflow_peers = {
        _peer_name(r) for r in policies[identities.ORDER_WORKFLOW.name]["spec"]["egress"]
    }
    assert "postgres" not in workflow_peers


def _peer_name(rule: dict[str, Any]) -> str:
    (peer,) = rule["to"]
    (value,) = peer["podSelector"]["matchLabels"].values()
    return str(value)


def test_network_policy_peers_exist_in_the_overlay(kind_objects: list[dict[str, Any]]) -> None:
    """Each allowed server is a real Service + pods with those labels and that port."""
    for peer in (common.TEMPORAL, common.VAULT, common.POSTGRES):
        services = {
            o["metadata"]["name"]: o for o in by_kind(kind_objects, "Service", peer.namespace)
        }
        assert peer.service in services, peer
        service = services[peer.service]
        assert service["spec"]["ports"][0]["port"] == peer.port
        labels = dict(peer.pod_labels)
        pods = [
            o
            for o in kind_objects
            if o["kind"] in WORKLOAD_KINDS
            and o["metadata"]["namespace"] == peer.namespace
            and labels.items() <= o["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(pods) == 1, peer
        ports = {
            p["containerPort"] for c in pod_spec(pods[0])["containers"] for p in c.get("ports", ())
        }
        assert peer.port in ports
        pod_labels = pods[0]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items(), peer


def test_every_deployment_has_a_disruption_budget(kind_objects: list[dict[str, Any]]) -> None:
    budgets = {
        o["metadata"]["name"]: o["spec"]
        for o in by_kind(kind_objects, "PodDisruptionBudget", "orders")
    }
    for dep in by_kind(kind_objects, "Deployment", "orders"):
        name = dep["metadata"]["name"]
        assert budgets[name]["selector"] == dep["spec"]["selector"]
        assert budgets[name]["minAvailable"] < dep["spec"]["replicas"]


def test_token_reviewer_is_a_dedicated_account_bound_to_auth_delegator(
    kind_objects: list[dict[str, Any]],
) -> None:
    (binding,) = [
        o
        for o in by_kind(kind_objects, "ClusterRoleBinding")
        if o["roleRef"]["name"] == "system:auth-delegator"
    ]
    (subject,) = binding["subjects"]
    assert subject["kind"] == "ServiceAccount"
    assert subject["name"] not in {i.service_account for i in identities.ALL}
    assert [
        o
        for o in by_kind(kind_objects, "Secret", subject["namespace"])
        if o["metadata"].get("annotations", {}).get("kubernetes.io/service-account.name")
        == subject["name"]
    ]


def test_labels_follow_app_kubernetes_io(kind_objects: list[dict[str, Any]]) -> None:
    for obj in kind_objects:
        if (
            obj["metadata"].get("namespace") == identities.K8S_NAMESPACE
            and obj["kind"] != "ConfigMap"
        ):
            name = obj["metadata"]["name"]
            if name == "default-deny" or obj["kind"] in {"Role", "RoleBinding"}:
                continue
            # Observability's objects about an identity's pods (kind_observability).
            name = name.removeprefix("observability-").removesuffix("-metrics")
            assert obj["metadata"]["labels"] == k8s_base.labels(identities.get(name)), name


# --------------------------------------------------------------------------- mutations

POD_FIELDS = [
    ("automountServiceAccountToken",),
    ("securityContext", "runAsNonRoot"),
    ("securityContext", "runAsUser"),
    ("securityContext", "runAsGroup"),
    ("securityContext", "seccompProfile"),
]
CONTAINER_FIELDS = [
    ("securityContext", "runAsNonRoot"),
    ("securityContext", "runAsUser"),
    ("securityContext", "runAsGroup"),
    ("securityContext", "readOnlyRootFilesystem"),
    ("securityContext", "allowPrivilegeEscalation"),
    ("securityContext", "privileged"),
    ("securityContext", "capabilities"),
    ("securityContext", "seccompProfile"),
    ("resources", "requests"),
    ("resources", "limits"),
    ("livenessProbe",),
    ("readinessProbe",),
]
IDENTITY_FIELDS = ["serviceAccountName", "projected-token", "audience", "expirationSeconds"]


def _deployments() -> list[dict[str, Any]]:
    objects = k8s_base.base_objects()
    return [o for o in objects.values() if o["kind"] == "Deployment"]


def _delete(tree: dict[str, Any], path: tuple[str, ...]) -> None:
    for key in path[:-1]:
        tree = tree[key]
    del tree[path[-1]]


@pytest.mark.parametrize("path", POD_FIELDS, ids=".".join)
def test_removing_a_pod_hardening_field_is_caught(path: tuple[str, ...]) -> None:
    for dep in _deployments():
        assert violations(dep) == []
        broken = copy.deepcopy(dep)
        _delete(pod_spec(broken), path)
        assert violations(broken), f"{dep['metadata']['name']} without {path} passed"


@pytest.mark.parametrize("path", CONTAINER_FIELDS, ids=".".join)
def test_removing_a_container_hardening_field_is_caught(path: tuple[str, ...]) -> None:
    for dep in _deployments():
        broken = copy.deepcopy(dep)
        _delete(pod_spec(broken)["containers"][0], path)
        assert violations(broken), f"{dep['metadata']['name']} without {path} passed"


@pytest.mark.parametrize("what", IDENTITY_FIELDS)
def test_removing_the_identity_binding_is_caught(what: str) -> None:
    for dep in _deployments():
        ident = identities.get(dep["metadata"]["name"])
        assert identity_violations(dep, ident) == []
        broken = copy.deepcopy(dep)
        pod = pod_spec(broken)
        token = pod["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"]
        if what == "serviceAccountName":
            pod["serviceAccountName"] = identities.ORDER_PROCESS_PAYMENT.service_account
            if ident is identities.ORDER_PROCESS_PAYMENT:
                pod["serviceAccountName"] = identities.ORDER_NOTIFY.service_account
        elif what == "projected-token":
            del pod["volumes"][0]
        else:
            del token[what]
        assert identity_violations(broken, ident), f"{ident.name} without {what} passed"


def test_weakened_values_are_caught_too() -> None:
    dep = _deployments()[0]
    for path, value in [
        (("securityContext", "runAsUser"), 0),
        (("securityContext", "allowPrivilegeEscalation"), True),
        (("securityContext", "readOnlyRootFilesystem"), False),
        (("securityContext", "capabilities"), {"drop": ["ALL"], "add": ["NET_ADMIN"]}),
    ]:
        broken = copy.deepcopy(dep)
        target = pod_spec(broken)["containers"][0]
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        assert violations(broken), path
