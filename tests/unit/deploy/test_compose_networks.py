"""docker-compose networks: no shared namespace, no route out, each identity its contract's.

The expected edges are derived here from the identity contract's own fields (who runs a
worker, who has a database role), not from the renderer's table, and every check is one
function (:func:`problems`) run on the rendered model and on mutated copies of it.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from orders.contract import identities, pki_names
from orders.deploy import common, observability
from orders.deploy.compose_networks import INGRESS_SERVICE, Net, networks
from tests.support.deploy import COMPOSE

INGRESS = "ingress"


def joined(service: dict[str, Any]) -> set[str]:
    """The networks a service joins (list or mapping syntax)."""
    nets = service.get("networks", [])
    return set(nets) if isinstance(nets, list) else set(nets.keys())


def members(compose: dict[str, Any], network: str) -> set[str]:
    """The services on ``network``."""
    return {name for name, svc in compose["services"].items() if network in joined(svc)}


def contract_networks(identity: identities.Identity) -> set[str]:
    """What ``identity``'s contract lets it call, as compose networks (test's own reading).

    Observability adds one pair network each: Prometheus scrapes every worker and the codec
    server, and every worker sends the collector its traces (each pair has two members,
    checked in ``test_observability_policies``).
    """
    out = {"vault", "identity"}  # every identity: OpenBao, and its ServiceAccount token
    if identity.is_worker or identity is identities.CODEC_SERVER:
        out.add(f"obs-scrape-{identity.name}")
    if identity.is_worker:
        out |= {"temporal-front", f"obs-otlp-{identity.name}"}
    if identity.grants or identity.owns_schema:
        out.add("postgres")
    return out


def aliases(service: dict[str, Any], network: str) -> list[str]:
    nets = service.get("networks", [])
    if isinstance(nets, list):
        return []
    return list((nets.get(network) or {}).get("aliases", []))


def problems(compose: dict[str, Any]) -> list[str]:
    """Everything wrong with ``compose``'s segmentation (empty: as designed)."""
    out: list[str] = []
    services: dict[str, Any] = compose["services"]
    declared: dict[str, Any] = compose["networks"]
    for name, svc in services.items():
        mode = svc.get("network_mode")
        if mode is not None and mode != "none":
            out.append(f"{name}: network_mode {mode}")
        if svc.get("ports") and name != INGRESS_SERVICE:
            out.append(f"{name}: publishes {svc['ports']} (only the ingress relay may)")
        for net in joined(svc) - set(declared):
            out.append(f"{name}: undeclared network {net}")
    for net, spec in declared.items():
        internal = (spec or {}).get("internal") is True
        if net != INGRESS and not internal:
            out.append(f"network {net} is not internal (a route out)")
        if net == INGRESS and members(compose, net) != {INGRESS_SERVICE}:
            out.append(f"ingress members {sorted(members(compose, net))}")
    for ident in common.workloads():
        got, want = joined(services[ident.name]), contract_networks(ident)
        if got != want:
            out.append(f"{ident.name}: networks {sorted(got)} != {sorted(want)}")
    db = {i.name for i in common.workloads() if i.grants or i.owns_schema}
    if members(compose, "postgres") != {"postgres", "openbao", *db}:
        out.append(f"postgres network: {sorted(members(compose, 'postgres'))}")
    admin_steps = {"temporal-namespace", "temporal-promote"}
    callers = {i.name for i in identities.workers()} | {"temporal-ui", *admin_steps}
    if members(compose, "temporal-front") != {"temporal-front", *callers}:
        out.append(f"temporal-front network: {sorted(members(compose, 'temporal-front'))}")
    steps = {"openbao-init", "pki", "setup", *admin_steps}
    vault_callers = {"ingress", "temporal-front", "openbao-relay", "temporal-ui", *steps}
    workloads = {i.name for i in common.workloads()}
    if members(compose, "vault") != {"openbao", *vault_callers, *workloads}:
        out.append(f"vault network: {sorted(members(compose, 'vault'))}")
    if members(compose, "identity") != {"identity", "openbao", *workloads}:
        out.append(f"identity network: {sorted(members(compose, 'identity'))}")
    if members(compose, "temporal") != {"temporal", "temporal-front", "openbao-relay"}:
        out.append(f"temporal network: {sorted(members(compose, 'temporal'))}")
    # Each server is dialled by its TLS name, which it holds on its own network.
    for server, net, name in (
        ("openbao", "vault", pki_names.Server.OPENBAO.value),
        ("postgres", "postgres", pki_names.Server.POSTGRES.value),
        ("temporal-front", "temporal-front", pki_names.Server.TEMPORAL.value),
        ("identity", "identity", pki_names.Server.IDENTITY.value),
    ):
        if name not in aliases(services[server], net):
            out.append(f"{server}: not {name} on {net}")
    return out


def test_the_rendered_compose_is_segmented_as_the_contract_says() -> None:
    assert problems(COMPOSE) == []


def test_only_the_ingress_network_has_a_route_out() -> None:
    internal = {n for n, spec in COMPOSE["networks"].items() if (spec or {}).get("internal")}
    assert set(COMPOSE["networks"]) - internal == {INGRESS}
    assert members(COMPOSE, INGRESS) == {INGRESS_SERVICE}


def test_the_networks_function_answers_for_every_service() -> None:
    # Observability's pair networks are added by its own hook (test_observability_policies).
    ours = {n.value for n in Net}
    theirs = {observability.PROMETHEUS_NAME, observability.COLLECTOR, observability.GRAFANA_NAME}
    for name, svc in COMPOSE["services"].items():
        if name in theirs:
            continue
        assert {n.value for n in networks(name)} == joined(svc) & ours, name
    with pytest.raises(KeyError, match="no compose service"):
        networks("nonesuch")
    assert ours == {n for n in COMPOSE["networks"] if not n.startswith("obs-")}


def _with(service: str, change: Any) -> dict[str, Any]:
    mutated = copy.deepcopy(COMPOSE)
    change(mutated["services"][service], mutated)
    return mutated


def _add_network(net: str) -> Any:
    def change(svc: dict[str, Any], _: dict[str, Any]) -> None:
        nets = svc.setdefault("networks", [])
        if isinstance(nets, list):
            nets.append(net)
        else:
            nets[net] = {}

    return change


MUTANTS = {
    "workflow worker on the database network": (
        identities.ORDER_WORKFLOW.name,
        _add_network("postgres"),
    ),
    "codec server on the front's network": (
        identities.CODEC_SERVER.name,
        _add_network("temporal-front"),
    ),
    "a worker on the ingress network": (identities.ORDER_NOTIFY.name, _add_network(INGRESS)),
    "the vault network made non-internal": (
        "openbao",
        lambda _svc, c: c["networks"].update({"vault": {}}),
    ),
    "a worker back in a shared network namespace": (
        identities.ORDER_FULFILL.name,
        lambda svc, _c: svc.update({"network_mode": "service:identity"}),
    ),
    "the codec server publishing its own port": (
        identities.CODEC_SERVER.name,
        lambda svc, _c: svc.update({"ports": ["127.0.0.1:8081:8081"]}),
    ),
    "a payment identity off its database network": (
        identities.ORDER_PROCESS_PAYMENT.name,
        lambda svc, _c: svc.update({"networks": ["vault", "identity", "temporal-front"]}),
    ),
    "Temporal on the identities' vault network": ("temporal", _add_network("vault")),
    "the promote step on the database network": ("temporal-promote", _add_network("postgres")),
    "the promote step on Temporal's own network": ("temporal-promote", _add_network("temporal")),
}


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_mutated_compose_is_caught(mutant: str) -> None:
    service, change = MUTANTS[mutant]
    assert problems(_with(service, change)), mutant
