"""Observability adds exactly its scrape and export paths, in kind and in compose (offline).

kind (the built overlay): Prometheus reaches each scraped identity's metrics ports, the
front's health port, Temporal's metrics port and OpenBao, and nothing else; only the
workers reach the collector, on OTLP/gRPC only; only Grafana reaches Prometheus; every
namespace keeps its default-deny. compose: Prometheus shares one internal network with
each host it scrapes, the collector one with each host that sends spans, Grafana one with
Prometheus and a published one of its own; no other service joins them. Mutated copies
(a widened policy, a port dropped, a network made external, one member too many) fail.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from orders.contract import identities
from orders.deploy import compose_observability, front, kind_observability, observability
from orders.deploy.common import DNS
from orders.deploy.compose_networks import INGRESS_SERVICE
from orders.deploy.setup_tokens import METRICS
from tests.support.deploy import COMPOSE, is_default_deny

INFRA = kind_observability.INFRA
APP = kind_observability.APP
NAME = kind_observability.NAME
PROM, COLLECTOR, GRAFANA = (
    observability.PROMETHEUS_NAME,
    observability.COLLECTOR,
    observability.GRAFANA_NAME,
)
Edge = tuple[str, str, int]
"""(namespace, pod name, port) of one end of an allowed connection."""


def _names(peer: dict[str, Any]) -> list[tuple[str, str]]:
    ns = peer.get("namespaceSelector", {}).get("matchLabels", {})
    namespace = ns.get("kubernetes.io/metadata.name", "*")
    pods = peer.get("podSelector", {})
    values = [v for e in pods.get("matchExpressions", []) for v in e["values"]]
    values += list(pods.get("matchLabels", {}).values())
    return [(namespace, v) for v in values] or [(namespace, "*")]


def edges(rules: list[dict[str, Any]], key: str) -> set[Edge]:
    """Every (namespace, pod, port) ``rules`` allow; ``*`` for a whole namespace or anyone."""
    out: set[Edge] = set()
    for rule in rules:
        ports = [p["port"] for p in rule.get("ports", [])] or [0]
        peers = rule.get(key) or [{}]
        out |= {(ns, pod, port) for peer in peers for ns, pod in _names(peer) for port in ports}
    return out


def _selecting(objects: list[dict[str, Any]], namespace: str, pod: str) -> list[dict[str, Any]]:
    return [
        o
        for o in objects
        if o["kind"] == "NetworkPolicy"
        and o["metadata"]["namespace"] == namespace
        and o["spec"]["podSelector"].get("matchLabels", {}).get(NAME) == pod
    ]


def allowed(objects: list[dict[str, Any]], namespace: str, pod: str, key: str) -> set[Edge]:
    """What every policy selecting ``pod`` lets in (``ingress``) or out (``egress``).

    A policy's rules count for a direction its ``policyTypes`` name (as the API reads it:
    ``Ingress`` always when unset, ``Egress`` when it has egress rules).
    """
    peers = "from" if key == "ingress" else "to"
    out: set[Edge] = set()
    for p in _selecting(objects, namespace, pod):
        spec = p["spec"]
        types = spec.get("policyTypes") or ["Ingress", *(["Egress"] if "egress" in spec else [])]
        if key.capitalize() in types:
            out |= edges(spec.get(key) or [], peers)
    return out


def _dns() -> set[Edge]:
    return {(DNS.namespace, v, DNS.port) for _, v in DNS.pod_labels}


def expected() -> dict[tuple[str, str, str], set[Edge]]:
    """(namespace, pod, direction) -> exactly what observability may add there."""
    senders = [i for i in observability.scraped() if observability.sends_traces(i)]
    scraped = {(APP, i.name, p) for i in observability.scraped() for p in observability.ports(i)}
    infra_targets = {
        (INFRA, front.NAME, front.HEALTH_PORT),
        (INFRA, front.TEMPORAL_APP, observability.TEMPORAL_METRICS_PORT),
        (INFRA, front.OPENBAO_APP, front.OPENBAO_PORT),
    }
    out = {
        (INFRA, PROM, "egress"): scraped | infra_targets | _dns(),
        (INFRA, PROM, "ingress"): {(INFRA, GRAFANA, observability.PROMETHEUS_PORT)},
        (INFRA, COLLECTOR, "ingress"): {
            (APP, i.name, observability.OTLP_GRPC_PORT) for i in senders
        },
        (INFRA, COLLECTOR, "egress"): set(),
        (INFRA, GRAFANA, "ingress"): set(),
        (INFRA, GRAFANA, "egress"): {(INFRA, PROM, observability.PROMETHEUS_PORT)} | _dns(),
    }
    for ns, pod, port in scraped | infra_targets:
        out.setdefault((ns, pod, "ingress from prometheus"), set()).add((INFRA, PROM, port))
    for ident in observability.scraped():
        out[(APP, ident.name, "egress to the collector")] = (
            {(INFRA, COLLECTOR, observability.OTLP_GRPC_PORT)} if ident in senders else set()
        )
    return out


def _policies(objects: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    return [
        o
        for o in objects
        if o["kind"] == "NetworkPolicy" and o["metadata"]["namespace"] == namespace
    ]


def kind_violations(objects: list[dict[str, Any]]) -> list[str]:
    """Differences between the overlay's observability paths and :func:`expected`."""
    out = []
    namespaces = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
    for ns in namespaces:
        if not any(is_default_deny(p) for p in _policies(objects, ns)):
            out.append(f"{ns}: no default-deny")
    obs = {PROM, COLLECTOR, GRAFANA}
    for (ns, pod, what), want in expected().items():
        if what in ("ingress", "egress"):
            got = allowed(objects, ns, pod, what)
        else:
            # Paths to or from an observability pod, or wider than any pod (a widening).
            key = "ingress" if what.startswith("ingress") else "egress"
            got = {
                e
                for e in allowed(objects, ns, pod, key)
                if e[1] in obs or (e[1] == "*" and e[0] in (INFRA, "*"))
            }
        if got != want:
            out.append(f"{ns}/{pod} {what}: {sorted(got ^ want)} beyond/short of the contract")
    return out


def test_kind_adds_exactly_the_scrape_and_export_paths(kind_objects: list[dict[str, Any]]) -> None:
    assert kind_violations(kind_objects) == []


def _policy(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(
        o for o in objects if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == name
    )


def _append(name: str, key: str, rule: dict[str, Any]) -> Callable[[list[dict[str, Any]]], None]:
    return lambda objs: _policy(objs, name)["spec"].setdefault(key, []).append(rule)


def _egress(name: str, rule: dict[str, Any]) -> Callable[[list[dict[str, Any]]], None]:
    """Add an egress rule to a policy, and make the policy govern egress."""

    def mutate(objs: list[dict[str, Any]]) -> None:
        spec = _policy(objs, name)["spec"]
        spec.setdefault("egress", []).append(rule)
        if "Egress" not in spec["policyTypes"]:
            spec["policyTypes"].append("Egress")

    return mutate


WORKER = identities.ORDER_FULFILL.name
KIND_MUTATIONS: dict[str, Callable[[list[dict[str, Any]]], None]] = {
    "a worker's metrics admit every pod of orders-infra": _append(
        f"observability-{WORKER}",
        "ingress",
        {
            "from": [
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": INFRA}}}
            ],
            "ports": [
                {"protocol": "TCP", "port": observability.metrics_port(identities.ORDER_FULFILL)}
            ],
        },
    ),
    "a worker's metrics policy on every port": lambda objs: _policy(
        objs, f"observability-{WORKER}"
    )["spec"]["ingress"][0].pop("ports"),
    "Prometheus may reach Postgres": _append(
        PROM,
        "egress",
        {"to": [front.pods(INFRA, ("postgres",))], "ports": [{"protocol": "TCP", "port": 5432}]},
    ),
    "the codec server may send to the collector": _egress(
        f"observability-{identities.CODEC_SERVER.name}",
        {"to": [front.pods(INFRA, (COLLECTOR,))], "ports": [{"protocol": "TCP", "port": 4317}]},
    ),
    "the collector exports to the Internet": _egress(
        COLLECTOR, {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443}]}
    ),
    "Grafana admits everyone": _append(GRAFANA, "ingress", {"ports": [{"port": 3000}]}),
    "OpenBao's scrape policy admits every pod of orders-infra": _append(
        "prometheus-scrape-openbao",
        "ingress",
        {
            "from": [
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": INFRA}}}
            ],
            "ports": [{"protocol": "TCP", "port": 8200}],
        },
    ),
    "orders-infra's default-deny removed": lambda objs: objs.remove(
        next(
            o
            for o in objs
            if o["kind"] == "NetworkPolicy"
            and o["metadata"]["name"] == "default-deny"
            and o["metadata"]["namespace"] == INFRA
        )
    ),
}


@pytest.mark.parametrize("mutation", sorted(KIND_MUTATIONS))
def test_kind_checker_catches(mutation: str, kind_objects: list[dict[str, Any]]) -> None:
    objects = copy.deepcopy(kind_objects)
    KIND_MUTATIONS[mutation](objects)
    assert kind_violations(objects), mutation


# --------------------------------------------------------------------------- compose


def _networks(service: dict[str, Any]) -> set[str]:
    nets = service.get("networks", {})
    return set(nets)


def compose_violations(model: dict[str, Any]) -> list[str]:
    """Differences between compose's observability networks and the paths they serve."""
    out = []
    services: dict[str, Any] = model["services"]
    networks: dict[str, Any] = model["networks"]
    co = compose_observability
    scraped = co.scraped_hosts(services)
    senders = co.sending_hosts(services)
    want = {co.scrape_network(h): {PROM, h} for h in scraped}
    want |= {co.otlp_network(h): {COLLECTOR, h} for h in senders}
    # Grafana's page leaves through the ingress relay, the one service that publishes.
    want |= {co.GRAFANA_NET: {GRAFANA, PROM}, co.INGRESS: {GRAFANA, INGRESS_SERVICE}}
    for net, members in want.items():
        got = {n for n, s in services.items() if net in _networks(s)}
        if got != members:
            out.append(f"{net}: members {sorted(got ^ members)} beyond/short of its path")
        if (networks.get(net) or {}).get("internal") is not True:
            out.append(f"{net}: not internal")
    for name, joined in (
        (PROM, {co.scrape_network(h) for h in scraped} | {co.GRAFANA_NET}),
        (COLLECTOR, {co.otlp_network(h) for h in senders}),
        (GRAFANA, {co.GRAFANA_NET, co.INGRESS}),
    ):
        if _networks(services[name]) != joined:
            out.append(f"{name} joins {sorted(_networks(services[name]) ^ joined)}")
    hosts = {co.host(services, i.name) for i in observability.scraped()}
    if set(scraped) != hosts | {co.host(services, n) for n in (front.NAME, "temporal", "openbao")}:
        out.append(f"scraped hosts {scraped} are not the contract's")
    for name in (PROM, COLLECTOR, GRAFANA):
        if services[name].get("ports"):
            out.append(f"{name} publishes a port")
    return out


def test_compose_adds_exactly_the_scrape_and_export_paths() -> None:
    assert compose_violations(COMPOSE) == []


def _join(service: str, network: str) -> Callable[[dict[str, Any]], None]:
    return lambda m: m["services"][service].setdefault("networks", {}).__setitem__(network, {})


COMPOSE_MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "the collector on the backend network": _join(COLLECTOR, "backend"),
    "Postgres on Prometheus's network of Temporal": _join(
        "postgres", compose_observability.scrape_network("temporal")
    ),
    "Grafana on a scrape network": _join(GRAFANA, compose_observability.scrape_network("temporal")),
    "a scrape network with a route out": lambda m: m["networks"][
        compose_observability.scrape_network("temporal")
    ].pop("internal"),
    "Prometheus publishes its port": lambda m: m["services"][PROM].__setitem__(
        "ports", ["127.0.0.1:9090:9090"]
    ),
    "Grafana publishes its own port": lambda m: m["services"][GRAFANA].__setitem__(
        "ports", ["127.0.0.1:3000:3000"]
    ),
    "Grafana's ingress network with a route out": lambda m: m["networks"][
        compose_observability.INGRESS
    ].pop("internal"),
}


@pytest.mark.parametrize("mutation", sorted(COMPOSE_MUTATIONS))
def test_compose_checker_catches(mutation: str) -> None:
    model = copy.deepcopy(COMPOSE)
    COMPOSE_MUTATIONS[mutation](model)
    assert compose_violations(model), mutation


# ------------------------------------------------------------- Prometheus's OpenBao token


def _mounts_token(service: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        m
        for m in service.get("volumes", [])
        if isinstance(m, dict) and m.get("source") == compose_observability.METRICS_TOKEN_VOLUME
    ]


def test_compose_hands_prometheus_its_token_alone() -> None:
    services = COMPOSE["services"]
    holders = {n: _mounts_token(s) for n, s in services.items() if _mounts_token(s)}
    assert set(holders) == {PROM, compose_observability.INIT_SERVICE}
    assert [m["read_only"] for m in holders[PROM]] == [True]
    init = services[compose_observability.INIT_SERVICE]["command"]
    [target] = [m["target"] for m in holders[compose_observability.INIT_SERVICE]]
    assert f"{METRICS}={target}" in init
    assert [m["target"] for m in holders[PROM]] == [observability.TOKEN_DIR]


def _pod_secrets(obj: dict[str, Any]) -> set[str]:
    spec = obj["spec"]["template"]["spec"]
    return {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}


def test_kind_hands_prometheus_its_token_alone(kind_objects: list[dict[str, Any]]) -> None:
    secret = kind_observability.METRICS_SECRET
    pods = [o for o in kind_objects if o["kind"] in ("Deployment", "StatefulSet", "Job")]
    assert {o["metadata"]["name"] for o in pods if secret in _pod_secrets(o)} == {PROM}
    unseal = next(o for o in pods if o["metadata"]["name"] == kind_observability.UNSEAL)
    command = unseal["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[-2:] == ["--k8s-step-secret", f"{METRICS}={secret}"]
    role = next(
        o
        for o in kind_objects
        if o["kind"] == "Role" and o["metadata"]["name"] == kind_observability.UNSEAL
    )
    named = [r for r in role["rules"] if secret in r.get("resourceNames", [])]
    assert [sorted(r["verbs"]) for r in named] == [["get", "update"]]
