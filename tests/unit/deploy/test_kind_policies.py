"""Every kind namespace denies by default; orders-infra's allows are exact (offline).

:func:`violations` reads the built kind overlay: each Namespace has a default-deny
(ingress and egress, every pod); no NetworkPolicy of ``orders-infra`` admits a whole
namespace, every pod, any port or an address range other than the apiserver's; and who
reaches OpenBao, Postgres and temporal-db is exactly the table of
:mod:`orders.deploy.kind_policies`. Mutated copies (a widened policy, a default-deny
removed, one more caller of Postgres) must be caught.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from orders.contract import identities
from orders.deploy import front, kind_policies, observability, temporal_schema
from tests.support.deploy import is_default_deny

INFRA = kind_policies.INFRA
APP = identities.K8S_NAMESPACE
NAME = "app.kubernetes.io/name"


def _peers(rule: dict[str, Any], key: str) -> set[tuple[str, str]]:
    """(namespace, pod name) pairs a rule's peers select (names from ``In`` expressions)."""
    out = set()
    for peer in rule.get(key, []):
        ns = peer.get("namespaceSelector", {}).get("matchLabels", {})
        for expr in peer.get("podSelector", {}).get("matchExpressions", []):
            out |= {(ns.get("kubernetes.io/metadata.name", "?"), v) for v in expr["values"]}
        out |= {
            (ns.get("kubernetes.io/metadata.name", "?"), v)
            for k, v in peer.get("podSelector", {}).get("matchLabels", {}).items()
            if k == NAME
        }
    return out


def _too_wide(peer: dict[str, Any]) -> str | None:
    if "ipBlock" in peer:
        cidr = peer["ipBlock"].get("cidr")
        return None if cidr in kind_policies.APISERVER_CIDRS else f"ipBlock {cidr}"
    pods = peer.get("podSelector")
    if not pods or not (pods.get("matchLabels") or pods.get("matchExpressions")):
        return "every pod of a namespace"
    if "namespaceSelector" in peer and not peer["namespaceSelector"].get("matchLabels"):
        return "every namespace"
    return None


def admitted(policies: list[dict[str, Any]], pod: str, port: int) -> set[tuple[str, str]]:
    """Everyone an ingress rule of ``orders-infra`` admits to ``pod`` on ``port``."""
    out: set[tuple[str, str]] = set()
    for p in policies:
        if p["metadata"]["namespace"] != INFRA:
            continue
        if p["spec"]["podSelector"].get("matchLabels", {}).get(NAME) != pod:
            continue
        for rule in p["spec"].get("ingress", []):
            if any(pt.get("port") == port for pt in rule.get("ports", [])):
                out |= _peers(rule, "from")
    return out


def violations(objects: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    for ns in (o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"):
        if not any(p["metadata"]["namespace"] == ns and is_default_deny(p) for p in policies):
            out.append(f"{ns}: no default-deny NetworkPolicy")
    for p in policies:
        if p["metadata"]["namespace"] != INFRA or is_default_deny(p):
            continue
        name = p["metadata"]["name"]
        for key, peers_key in (("ingress", "from"), ("egress", "to")):
            for rule in p["spec"].get(key, []):
                if not rule.get(peers_key):
                    out.append(f"{name}: a {key} rule with no peers (everyone)")
                if not rule.get("ports"):
                    out.append(f"{name}: a {key} rule on every port")
                for peer in rule.get(peers_key, []):
                    wide = _too_wide(peer)
                    if wide:
                        out.append(f"{name}: {key} to {wide}")
    workloads = {
        (APP, i.name)
        for i in (*identities.workers(), identities.CODEC_SERVER, identities.ORDER_MIGRATE)
    }
    expected = {
        ("openbao", front.OPENBAO_PORT): workloads
        | {(INFRA, n) for n in (front.TEMPORAL_APP, front.NAME, *kind_policies.SETUP_JOBS)}
        | {(INFRA, observability.PROMETHEUS_NAME)},  # its metrics, with a token for that only
        ("postgres", kind_policies.PG_PORT): {
            (APP, i.name) for i in identities.ALL if i.has_db_role
        }
        | {(INFRA, "openbao"), (INFRA, "vault-configure")},
        ("temporal-db", kind_policies.PG_PORT): {
            (INFRA, front.TEMPORAL_APP),
            (INFRA, temporal_schema.NAME),
        },
    }
    for (pod, port), want in expected.items():
        got = admitted(policies, pod, port)
        if got != want:
            out.append(f"{pod}:{port} admits {sorted(got ^ want)} beyond/short of the table")
    return out


def test_kind_namespaces_deny_by_default_and_allow_exactly(
    kind_objects: list[dict[str, Any]],
) -> None:
    namespaces = {o["metadata"]["name"] for o in kind_objects if o["kind"] == "Namespace"}
    assert {INFRA, APP} <= namespaces
    assert violations(kind_objects) == []


def _policy(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(
        o
        for o in objects
        if o["kind"] == "NetworkPolicy"
        and o["metadata"]["name"] == name
        and o["metadata"]["namespace"] == INFRA
    )


def _add_peer(name: str, peer: dict[str, Any]) -> Callable[[list[dict[str, Any]]], None]:
    return lambda objs: _policy(objs, name)["spec"]["ingress"][0]["from"].append(peer)


MUTATIONS: dict[str, Callable[[list[dict[str, Any]]], None]] = {
    "orders-infra default-deny removed": lambda objs: objs.remove(_policy(objs, "default-deny")),
    "OpenBao admits every pod of every namespace": _add_peer(
        "openbao-allow", {"namespaceSelector": {}}
    ),
    "OpenBao admits every pod of orders": _add_peer(
        "openbao-allow",
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": APP}}},
    ),
    "Postgres admits the workflow worker": _add_peer(
        "postgres-allow",
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": APP}},
            "podSelector": {"matchLabels": {NAME: identities.ORDER_WORKFLOW.name}},
        },
    ),
    "temporal-db on every port": lambda objs: _policy(objs, "temporal-db-allow")["spec"]["ingress"][
        0
    ].pop("ports"),
    "Temporal's egress to the Internet": lambda objs: _policy(objs, "temporal-allow")["spec"][
        "egress"
    ].append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443}]}),
    "the UI admits everyone": lambda objs: _policy(objs, "temporal-ui-allow")["spec"][
        "ingress"
    ].append({"ports": [{"port": 8080}]}),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_checker_catches(mutation: str, kind_objects: list[dict[str, Any]]) -> None:
    objects = copy.deepcopy(kind_objects)
    MUTATIONS[mutation](objects)
    assert violations(objects), mutation
