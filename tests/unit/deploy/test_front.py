"""Every caller reaches Temporal through the authorization front, and nothing else can (offline).

:func:`compose_front_violations` and :func:`kind_front_violations` read the committed compose
file and the built kind overlay and list every way around the front:

* every client of Temporal (workers, the client, the UI, the namespace step) dials the name
  the front serves (``temporal.orders.local``, or the front's Service), verified against the
  Vault root CA, and that name belongs to the front alone;
* Temporal's TLS (frontend *and* internode) trusts Temporal's internode CA only, which is not
  the Vault root CA, and only Temporal and the front hold certificates from it: no identity's
  certificate could complete a handshake with the frontend, history or matching;
* the network admits only the front: compose puts Temporal on internal networks shared with
  the front, its Postgres and the JWKS relay (which forwards to OpenBao only); kind's
  NetworkPolicies admit only the front's pods (and Temporal's own) to the frontend port.

Mutated copies (the front bypassed, the client CA widened to the Vault root CA, a widened
NetworkPolicy, the internode CA replaced by the root CA, ...) must each be caught.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from orders.contract import identities, pki_names
from orders.contract.pki_names import Server
from orders.deploy import common, compose_infra, front, k8s_base, render, tls
from orders.vault import pki as vault_pki
from orders.vault import tokens as vault_tokens
from tests.support.deploy import COMPOSE, compose_mounts

Need = Callable[[bool, str], None]
KIND_OVERLAY = render.ROOT / "k8s" / "overlays" / "kind" / "infra"


def _collector(out: list[str]) -> Callable[[str], Need]:
    def check(name: str) -> Need:
        def need(ok: bool, what: str) -> None:
            if not ok:
                out.append(f"{name}: {what}")

        return need

    return check


def _option(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args[:-1]) if a == flag]


def _host(address: str) -> str:
    return address.rsplit(":", 1)[0]


# --------------------------------------------------------------------------- contract


def test_internode_ca_issues_only_temporal_and_the_front() -> None:
    """What Temporal's listeners trust issues two names, neither an identity's."""
    internode = {
        pki_names.PKI_INTERNODE_ROLE: vault_pki.internode_role(),
        pki_names.PKI_FRONT_ROLE: vault_pki.front_role(),
    }
    names = {n for body in internode.values() for n in body["allowed_domains"]}
    assert names == {front.FRONTEND, pki_names.TEMPORAL_FRONT_CERT_NAME}
    assert not names & {i.name for i in identities.ALL}
    assert not names & {pki_names.TEMPORAL_UI_CERT_NAME, pki_names.TEMPORAL_ADMIN_CERT_NAME}
    assert pki_names.PKI_INTERNODE_MOUNT not in (pki_names.PKI_MOUNT, pki_names.PKI_ROOT_MOUNT)
    assert {tls.TEMPORAL_INTERNODE.mount, tls.TEMPORAL_FRONT.mount} == {
        pki_names.PKI_INTERNODE_MOUNT
    }
    assert all(s.mount == pki_names.PKI_MOUNT for s in tls.SPECS if s.role not in internode)
    assert tls.INTERNODE_CA_PATH != tls.CA_PATH


# --------------------------------------------------------------------------- compose


def _networks(services: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    """Networks of a service (through ``network_mode: service:X``) -> their settings."""
    svc = services[name]
    mode = str(svc.get("network_mode", ""))
    if mode.startswith("service:"):
        return _networks(services, mode.split(":", 1)[1])
    nets = svc.get("networks", {"default": {}})
    if isinstance(nets, list):
        return {n: {} for n in nets}
    return {n: (conf or {}) for n, conf in nets.items()}


def _aliases(services: dict[str, Any], name: str) -> set[str]:
    return {a for conf in _networks(services, name).values() for a in conf.get("aliases", [])}


def _front_args(svc: dict[str, Any]) -> list[str]:
    """The ``orders.front`` arguments of the front's ``sh -c`` command."""
    script = svc["command"][-1]
    return str(script).split("exec ", 1)[-1].split()


TEMPORAL_CLIENT_ENV = ("ORDERS_TEMPORAL_ADDRESS", "TEMPORAL_ADDRESS")


def compose_front_violations(compose: dict[str, Any]) -> list[str]:
    """Every way around the authorization front in ``compose``."""
    out: list[str] = []
    check = _collector(out)
    services: dict[str, Any] = compose["services"]
    networks: dict[str, Any] = compose.get("networks", {})
    front_aliases = _aliases(services, front.NAME)

    # 1. Only the front answers to Temporal's public name; Temporal answers to its own.
    need = check("names")
    for name in services:
        if Server.TEMPORAL.value in _aliases(services, name):
            need(name == front.NAME, f"{name} answers to {Server.TEMPORAL.value}")
        if front.FRONTEND in _aliases(services, name):
            need(name == "temporal", f"{name} answers to {front.FRONTEND}")
    need(Server.TEMPORAL.value in front_aliases, "the front serves temporal.orders.local")

    # 2. Every client of Temporal dials the front, by its name, verified against the root CA.
    for name, svc in services.items():
        if name in ("temporal", front.NAME):
            continue
        need = check(name)
        env = svc.get("environment", {})
        targets = [env[k] for k in TEMPORAL_CLIENT_ENV if k in env]
        targets += _option(svc.get("command", []), "--temporal-address")
        for target in targets:
            need(_host(target) == Server.TEMPORAL.value, f"dials the front, not {target}")
        if "ORDERS_TEMPORAL_ADDRESS" in env:
            need(env.get("ORDERS_TEMPORAL_TLS_CA_FILE") == tls.CA_PATH, "front's CA")
            need(
                env.get("ORDERS_TEMPORAL_TLS_SERVER_NAME") == Server.TEMPORAL.value,
                "checks the front's name",
            )
    step = services[compose_infra.NAMESPACE_STEP]["command"]
    check("namespace step")(
        _option(step, "--temporal-ca-file") == [tls.CA_PATH], "the front's CA (Vault root)"
    )

    # 3. Temporal's TLS trusts the internode CA only (frontend and internode).
    temporal = services["temporal"]
    env = temporal["environment"]
    need = check("temporal")
    for key in (
        "TEMPORAL_TLS_SERVER_CA_CERT",
        "TEMPORAL_TLS_CLIENT1_CA_CERT",
        "TEMPORAL_TLS_CLIENT2_CA_CERT",
        "TEMPORAL_TLS_CA",
    ):
        need(env.get(key) == tls.INTERNODE_CA_PATH, f"{key} is the internode CA only")
    need(env.get("TEMPORAL_TLS_REQUIRE_CLIENT_AUTH") == "true", "client certificates required")
    need(
        compose_mounts(temporal).get(tls.TLS_DIR) == tls.TEMPORAL_INTERNODE.volume, "internode cert"
    )
    need(not temporal.get("ports"), "no published port")
    if len(_networks(services, "temporal")) > 1:
        need(env.get("BIND_ON_IP") == "0.0.0.0", "listens on each of its networks")  # noqa: S104
    need("network_mode" not in temporal, "a network namespace of its own")

    # 4. Only Temporal and the front hold internode certificates.
    for name, svc in services.items():
        for source in compose_mounts(svc).values():
            if source == tls.TEMPORAL_INTERNODE.volume:
                check(name)(name in ("temporal", "pki"), "mounts Temporal's internode key")
            if source == tls.TEMPORAL_FRONT.volume:
                check(name)(name in (front.NAME, "pki"), "mounts the front's internode key")

    # 5. Temporal's networks: internal, shared only with the front, its Postgres, the relay.
    allowed = {"temporal", front.NAME, front.RELAY, "temporal-db"}
    temporal_nets = set(_networks(services, "temporal"))
    need = check("temporal networks")
    need(bool(temporal_nets), "Temporal is on a network")
    for net in temporal_nets:
        need((networks.get(net) or {}).get("internal") is True, f"{net} is internal")
        members = {n for n in services if net in _networks(services, n)}
        need(members <= allowed, f"{net} shared with {sorted(members - allowed)}")
    for name, svc in services.items():
        check(name)(svc.get("network_mode") != "service:temporal", "in Temporal's netns")
    relay = services.get(front.RELAY, {})
    [to] = _option(relay.get("command", []), "--to") or [""]
    check(front.RELAY)(_host(to) == "openbao", "forwards to OpenBao only")

    # 6. The front: callers verified against the root CA, upstream against the internode CA.
    svc = services[front.NAME]
    args = _front_args(svc)
    mounts = compose_mounts(svc)
    need = check(front.NAME)
    need(_option(args, "--client-ca") == [tls.CA_PATH], "callers against the Vault root CA")
    need(_option(args, "--upstream-ca") == [tls.INTERNODE_CA_PATH], "upstream: internode CA")
    need(_option(args, "--upstream-server-name") == [front.FRONTEND], "upstream's name")
    [upstream] = _option(args, "--upstream") or [""]
    shared = set(_networks(services, front.NAME)) & temporal_nets
    need(
        any(
            _host(upstream) in _networks(services, "temporal")[n].get("aliases", []) for n in shared
        ),
        "upstream is Temporal on a network they share",
    )
    need(mounts.get(tls.TLS_DIR) == tls.TEMPORAL.volume, "serves temporal.orders.local")
    need(mounts.get(front.CLIENT_TLS_DIR) == tls.TEMPORAL_FRONT.volume, "its internode client cert")
    need(front.TOKEN_KEY in svc.get("secrets", []), "its token key secret")
    need(front.TOKEN_KEY in compose.get("secrets", {}), "token key generated like the others")
    return out


def test_compose_has_no_way_around_the_front() -> None:
    assert compose_front_violations(COMPOSE) == []


def _env(service: str, key: str, value: str) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        doc["services"][service]["environment"][key] = value

    return mutate


def _front_arg(flag: str, value: str) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        svc = doc["services"][front.NAME]
        script = svc["command"][-1]
        args = _front_args(svc)
        old = f"{flag} {_option(args, flag)[0]}"
        assert old in script
        svc["command"][-1] = script.replace(old, f"{flag} {value}")

    return mutate


def _join(service: str, network: str) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        nets = doc["services"][service]["networks"]
        if isinstance(nets, list):
            nets.append(network)
        else:
            nets[network] = {}

    return mutate


WORKER = identities.ORDER_NOTIFY.name
FRONTEND_ADDR = front.upstream()
COMPOSE_MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "a worker dials the frontend directly": _env(WORKER, "ORDERS_TEMPORAL_ADDRESS", FRONTEND_ADDR),
    "a worker checks the frontend's name": _env(
        WORKER, "ORDERS_TEMPORAL_TLS_SERVER_NAME", front.FRONTEND
    ),
    "the UI dials the frontend directly": _env("temporal-ui", "TEMPORAL_ADDRESS", FRONTEND_ADDR),
    "the namespace step dials the frontend directly": lambda doc: doc["services"][
        compose_infra.NAMESPACE_STEP
    ].update(
        command=[
            FRONTEND_ADDR if a == compose_infra.COMPOSE_TEMPORAL else a
            for a in doc["services"][compose_infra.NAMESPACE_STEP]["command"]
        ]
    ),
    "frontend client CA widened to the Vault root CA": _env(
        "temporal", "TEMPORAL_TLS_CLIENT1_CA_CERT", tls.CA_PATH
    ),
    "internode CA = root CA": lambda doc: doc["services"]["temporal"]["environment"].update(
        TEMPORAL_TLS_SERVER_CA_CERT=tls.CA_PATH, TEMPORAL_TLS_CA=tls.CA_PATH
    ),
    "Temporal serves a Vault-root certificate": lambda doc: doc["services"]["temporal"][
        "volumes"
    ].append({"type": "volume", "source": tls.TEMPORAL.volume, "target": tls.TLS_DIR}),
    "Temporal joins OpenBao's network": _join("temporal", "vault"),
    "Temporal joins the identities' database network": _join("temporal", "postgres"),
    "the identity endpoint joins Temporal's network": _join("identity", front.TEMPORAL_NETWORK),
    "a worker joins Temporal's network": _join(WORKER, front.TEMPORAL_NETWORK),
    "Temporal's network not internal": lambda doc: doc["networks"][front.TEMPORAL_NETWORK].update(
        internal=False
    ),
    "Temporal publishes its port": lambda doc: doc["services"]["temporal"].update(
        ports=["127.0.0.1:7233:7233"]
    ),
    "Temporal also answers to the front's name": lambda doc: doc["services"]["temporal"][
        "networks"
    ][front.TEMPORAL_NETWORK]["aliases"].append(Server.TEMPORAL.value),
    "the relay forwards to Temporal": lambda doc: doc["services"][front.RELAY].update(
        command=[*doc["services"][front.RELAY]["command"][:-1], FRONTEND_ADDR]
    ),
    "a worker holds the front's internode key": lambda doc: doc["services"][WORKER][
        "volumes"
    ].append({"type": "volume", "source": tls.TEMPORAL_FRONT.volume, "target": "/x"}),
    "the front trusts the internode CA for callers": _front_arg(
        "--client-ca", tls.INTERNODE_CA_PATH
    ),
    "the front's upstream verified against the root CA": _front_arg("--upstream-ca", tls.CA_PATH),
}


@pytest.mark.parametrize("mutation", sorted(COMPOSE_MUTATIONS))
def test_compose_front_checker_catches(mutation: str) -> None:
    doc = copy.deepcopy(COMPOSE)
    COMPOSE_MUTATIONS[mutation](doc)
    assert compose_front_violations(doc), mutation


# --------------------------------------------------------------------------- kind


def _by(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def _container(obj: dict[str, Any]) -> dict[str, Any]:
    c: dict[str, Any] = obj["spec"]["template"]["spec"]["containers"][0]
    return c


def _plain_env(c: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c.get("env", []) if "value" in e}


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels / matchExpressions) selects ``labels``."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        op, key, values = expr["operator"], expr["key"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _peer_only(peer: dict[str, Any], namespace: str, names: set[str]) -> bool:
    """A NetworkPolicy peer that can only be pods of ``namespace`` named one of ``names``."""
    if "ipBlock" in peer or "podSelector" not in peer:
        return False
    ns_sel = peer.get("namespaceSelector")
    if ns_sel is not None and ns_sel != {"matchLabels": {"kubernetes.io/metadata.name": namespace}}:
        return False
    pod = peer["podSelector"]
    exact = (pod.get("matchLabels") or {}).get("app.kubernetes.io/name")
    ins = [
        set(e["values"])
        for e in pod.get("matchExpressions") or []
        if e["key"] == "app.kubernetes.io/name" and e["operator"] == "In"
    ]
    allowed = ({exact} if exact else set()) | (set.intersection(*ins) if ins else set())
    return bool(allowed) and (exact is None or not ins) and allowed <= names


def _admitted(
    policies: list[dict[str, Any]], labels: dict[str, str], namespace: str, port: int
) -> list[dict[str, Any]] | None:
    """The ingress peers admitted to ``port`` of pods with ``labels`` (None: anyone)."""
    selecting = [
        p
        for p in policies
        if p["metadata"].get("namespace") == namespace
        and _selects(p["spec"]["podSelector"], labels)
        and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
    ]
    if not selecting:
        return None
    peers: list[dict[str, Any]] = []
    for policy in selecting:
        for rule in policy["spec"].get("ingress") or []:
            ports = rule.get("ports")
            if ports and not any(p.get("port") in (port, "grpc") for p in ports):
                continue
            if not rule.get("from"):
                return None  # from everywhere
            peers += rule["from"]
    return peers


def kind_front_violations(objects: list[dict[str, Any]]) -> list[str]:
    """Every way around the authorization front in the built kind overlay."""
    out: list[str] = []
    check = _collector(out)
    infra = common.INFRA_NAMESPACE
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    front_host = f"{front.NAME}.{infra}.svc"

    # 1. Every caller dials the front's Service, which selects the front's pods.
    need = check("callers")
    need(common.TEMPORAL.host == front_host, "the workers' Temporal peer is the front")
    worker_env = _by(objects, "ConfigMap", k8s_base.ENV_CONFIGMAP)["data"]
    need(_host(worker_env.get("ORDERS_TEMPORAL_ADDRESS", "")) == front_host, "workers")
    need(
        worker_env.get("ORDERS_TEMPORAL_TLS_SERVER_NAME") == Server.TEMPORAL.value,
        "workers check the front's name",
    )
    ui = _plain_env(_container(_by(objects, "Deployment", "temporal-ui")))
    need(_host(ui.get("TEMPORAL_ADDRESS", "")) == front_host, "the UI")
    job = _container(_by(objects, "Job", compose_infra.NAMESPACE_STEP))["command"]
    need([_host(a) for a in _option(job, "--temporal-address")] == [front_host], "namespace Job")
    selector = services.get(front.NAME, {}).get("spec", {}).get("selector", {})
    need(selector == {"app.kubernetes.io/name": front.NAME}, "front Service -> front pods")
    # No application pod may even send to Temporal's pods.
    for policy in policies:
        if policy["metadata"].get("namespace") != identities.K8S_NAMESPACE:
            continue
        for rule in policy["spec"].get("egress") or []:
            for peer in rule.get("to") or []:
                labels = (peer.get("podSelector") or {}).get("matchLabels") or {}
                check(policy["metadata"]["name"])(
                    labels.get("app.kubernetes.io/name") != front.TEMPORAL_APP,
                    "egress to Temporal's pods",
                )

    # 2. Temporal's frontend port admits the front's pods (and Temporal's own) only.
    need = check("temporal NetworkPolicy")
    temporal_labels = _by(objects, "Deployment", "temporal")["spec"]["template"]["metadata"][
        "labels"
    ]
    peers = _admitted(policies, temporal_labels, infra, front.FRONTEND_PORT)
    need(peers is not None, "some NetworkPolicy restricts Temporal's ingress")
    for peer in peers or []:
        need(
            _peer_only(peer, infra, {front.NAME, front.TEMPORAL_APP}),
            f"admits more than the front: {peer}",
        )

    # 3. The front admits the callers only.
    need = check("front NetworkPolicy")
    front_obj = _by(objects, "Deployment", front.NAME)
    front_labels = front_obj["spec"]["template"]["metadata"]["labels"]
    peers = _admitted(policies, front_labels, infra, front.PORT)
    need(peers is not None, "some NetworkPolicy restricts the front's ingress")
    callers = {identities.K8S_NAMESPACE: set(front.app_callers()), infra: set(front.INFRA_CALLERS)}
    for peer in peers or []:
        need(
            any(_peer_only(peer, ns, names) for ns, names in callers.items()),
            f"admits more than the callers: {peer}",
        )

    # 4. Temporal's TLS trusts the internode CA only, published from pki_internode.
    temporal = _by(objects, "Deployment", "temporal")
    pod = temporal["spec"]["template"]["spec"]
    c = next(c for c in pod["containers"] if c["name"] == "temporal")
    env = _plain_env(c)
    need = check("temporal")
    for key in ("TEMPORAL_TLS_CLIENT1_CA_CERT", "TEMPORAL_TLS_CLIENT2_CA_CERT"):
        need(env.get(key) == tls.INTERNODE_CA_PATH, f"{key} is the internode CA only")
    need(env.get("TEMPORAL_TLS_SERVER_CA_CERT") == tls.INTERNODE_CA_PATH, "internode CA")

    def ca_source(pod: dict[str, Any], c: dict[str, Any], path: str) -> tuple[str, str] | None:
        """(ConfigMap, key) that ``path`` is projected from, if any."""
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        directory, _, file = path.rpartition("/")
        vol: dict[str, Any] = next(
            (v for v in pod["volumes"] if v["name"] == mounts.get(directory)), {}
        )
        sources = [s["configMap"] for s in vol.get("projected", {}).get("sources", [])]
        sources += [vol["configMap"]] if "configMap" in vol else []
        for cm in sources:
            for item in cm.get("items", []):
                if item["path"] == file:
                    return cm["name"], item["key"]
        return None

    want = (front.INTERNODE_CA_CONFIGMAP, tls.INTERNODE_CA_FILE)
    need(ca_source(pod, c, tls.INTERNODE_CA_PATH) == want, "internode CA from its ConfigMap")
    pod_vols = {v["name"]: v for v in pod["volumes"]}
    secrets = {v.get("secret", {}).get("secretName") for v in pod_vols.values()}
    need(tls.TEMPORAL_INTERNODE.volume in secrets, "its internode certificate")
    need(tls.TEMPORAL.volume not in secrets, "no Vault-root server certificate")

    # 5. The front: two replicas, one shared token key, callers vs upstream CAs.
    need = check(front.NAME)
    fpod = front_obj["spec"]["template"]["spec"]
    fc = _container(front_obj)
    args: list[str] = fc["command"]
    need(front_obj["spec"].get("replicas", 1) >= 2, "two replicas")
    need(_option(args, "--client-ca") == [tls.CA_PATH], "callers against the Vault root CA")
    need(ca_source(fpod, fc, tls.CA_PATH) == (k8s_base.CA_CONFIGMAP, tls.CA_FILE), "root CA")
    need(_option(args, "--upstream-ca") == [tls.INTERNODE_CA_PATH], "upstream: internode CA")
    need(ca_source(fpod, fc, tls.INTERNODE_CA_PATH) == want, "internode CA from its ConfigMap")
    need(_option(args, "--upstream-server-name") == [front.FRONTEND], "upstream's name")
    [upstream] = _option(args, "--upstream") or [""]
    frontend_svc = services.get(upstream.split(".")[0], {})
    need(
        _selects({"matchLabels": frontend_svc.get("spec", {}).get("selector", {})}, temporal_labels)
        and bool(frontend_svc),
        "upstream Service selects Temporal's pods",
    )
    fvols = {v.get("secret", {}).get("secretName") for v in fpod["volumes"]}
    need({tls.TEMPORAL.volume, tls.TEMPORAL_FRONT.volume, front.TOKEN_KEY} <= fvols, "Secrets")

    # 6. The vault-pki Job publishes the internode CA and creates the token key, under a Role
    #    allowing exactly that.
    need = check("vault-pki")
    pki = _container(_by(objects, "Job", "vault-pki"))["command"]
    need(_option(pki, "--internode-ca-configmap") == [front.INTERNODE_CA_CONFIGMAP], "CA map")
    need(_option(pki, "--k8s-token-key-secret") == [front.TOKEN_KEY], "token key Secret")
    role = next(
        o
        for o in objects
        if o["kind"] == "Role"
        and o["metadata"]["name"] == "vault-pki"
        and o["metadata"]["namespace"] == infra
    )
    updatable = {
        n
        for r in role["rules"]
        if "configmaps" in r["resources"] and "update" in r["verbs"]
        for n in r.get("resourceNames", [])
    }
    need(front.INTERNODE_CA_CONFIGMAP in updatable, "may update the internode CA map")
    for rule in role["rules"]:
        if "update" in rule["verbs"] and "secrets" in rule["resources"]:
            need(front.TOKEN_KEY not in rule.get("resourceNames", []), "never replaces the key")
    return out


def test_kind_has_no_way_around_the_front(kind_objects: list[dict[str, Any]]) -> None:
    assert kind_front_violations(kind_objects) == []


def test_kind_network_policies_are_the_rendered_ones() -> None:
    """The hand-maintained overlay files equal :mod:`orders.deploy.front`'s policies."""
    for path, policy in (
        (KIND_OVERLAY / "temporal-front" / "networkpolicy.yaml", front.front_policy()),
        (KIND_OVERLAY / "temporal" / "networkpolicy.yaml", front.temporal_policy()),
    ):
        assert yaml.safe_load(path.read_text()) == policy, path


def test_kind_front_runs_the_rendered_command(kind_objects: list[dict[str, Any]]) -> None:
    c = _container(_by(kind_objects, "Deployment", front.NAME))
    assert c["command"] == front.kind_command()
    # Identities' tokens say iss = OpenBao's api_addr + /v1/identity/oidc.
    bao = _plain_env(_container(_by(kind_objects, "StatefulSet", "openbao")))
    [issuer] = _option(c["command"], "--machine-issuer")
    assert issuer == vault_tokens.issuer_for(bao["BAO_API_ADDR"])


def _policy(name: str) -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
    def get(objects: list[dict[str, Any]]) -> dict[str, Any]:
        return next(
            o
            for o in objects
            if o["kind"] == "NetworkPolicy"
            and o["metadata"]["name"] == name
            and o["metadata"]["namespace"] == common.INFRA_NAMESPACE
        )

    return get


def _widen(name: str, rule: dict[str, Any]) -> Callable[[list[dict[str, Any]]], None]:
    def mutate(objects: list[dict[str, Any]]) -> None:
        _policy(name)(objects)["spec"]["ingress"].append(rule)

    return mutate


def _temporal_env(key: str, value: str) -> Callable[[list[dict[str, Any]]], None]:
    def mutate(objects: list[dict[str, Any]]) -> None:
        c = _container(_by(objects, "Deployment", "temporal"))
        c["env"] = [e for e in c["env"] if e["name"] != key] + [{"name": key, "value": value}]

    return mutate


def _internode_ca_is_root(objects: list[dict[str, Any]]) -> None:
    pod = _by(objects, "Deployment", "temporal")["spec"]["template"]["spec"]
    for vol in pod["volumes"]:
        for source in vol.get("projected", {}).get("sources", []):
            cm = source.get("configMap", {})
            if cm.get("name") == front.INTERNODE_CA_CONFIGMAP:
                cm["name"] = k8s_base.CA_CONFIGMAP
                cm["items"] = [{"key": tls.CA_FILE, "path": tls.INTERNODE_CA_FILE}]


def _by_ns(objects: list[dict[str, Any]], kind: str, name: str, ns: str) -> dict[str, Any]:
    return next(
        o
        for o in objects
        if o["kind"] == kind and o["metadata"]["name"] == name and o["metadata"]["namespace"] == ns
    )


def _drop_temporal_policy(objects: list[dict[str, Any]]) -> None:
    # With orders-infra's default-deny, Temporal's policy alone gone only blocks it more.
    _drop("NetworkPolicy", front.TEMPORAL_APP)(objects)
    objects.remove(_by_ns(objects, "NetworkPolicy", "default-deny", front.INFRA))


def _drop(kind: str, name: str) -> Callable[[list[dict[str, Any]]], None]:
    def mutate(objects: list[dict[str, Any]]) -> None:
        objects.remove(_by(objects, kind, name))

    return mutate


def _ui_dials_the_frontend(objects: list[dict[str, Any]]) -> None:
    for e in _container(_by(objects, "Deployment", "temporal-ui"))["env"]:
        if e["name"] == "TEMPORAL_ADDRESS":
            e["value"] = f"temporal-frontend.{common.INFRA_NAMESPACE}.svc:7233"


ORDERS_NS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "orders"}}}
KIND_MUTATIONS: dict[str, Callable[[list[dict[str, Any]]], None]] = {
    "workers dial the frontend directly": lambda objects: _by(
        objects, "ConfigMap", k8s_base.ENV_CONFIGMAP
    )["data"].update(
        ORDERS_TEMPORAL_ADDRESS=f"temporal-frontend.{common.INFRA_NAMESPACE}.svc:7233"
    ),
    "the UI dials the frontend directly": _ui_dials_the_frontend,
    "a worker may send to Temporal's pods": lambda objects: _by(objects, "NetworkPolicy", WORKER)[
        "spec"
    ]["egress"].append(
        {
            "to": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": common.INFRA_NAMESPACE}
                    },
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "temporal"}},
                }
            ],
            "ports": [{"protocol": "TCP", "port": 7233}],
        }
    ),
    "Temporal's NetworkPolicy widened to the orders namespace": _widen(
        front.TEMPORAL_APP, {"from": [ORDERS_NS], "ports": [{"protocol": "TCP", "port": 7233}]}
    ),
    "Temporal's NetworkPolicy widened to any source": _widen(
        front.TEMPORAL_APP, {"ports": [{"protocol": "TCP", "port": 7233}]}
    ),
    "Temporal's NetworkPolicy admits a worker on every port": _widen(
        front.TEMPORAL_APP,
        {
            "from": [
                {
                    **ORDERS_NS,
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": WORKER}},
                }
            ]
        },
    ),
    "Temporal's NetworkPolicy and orders-infra's default-deny removed": _drop_temporal_policy,
    "the front's NetworkPolicy admits every pod of orders": _widen(
        front.NAME, {"from": [ORDERS_NS], "ports": [{"protocol": "TCP", "port": 7233}]}
    ),
    "the front's NetworkPolicy admits the codec server": _widen(
        front.NAME,
        {
            "from": [
                {
                    **ORDERS_NS,
                    "podSelector": {
                        "matchLabels": {"app.kubernetes.io/name": identities.CODEC_SERVER.name}
                    },
                }
            ]
        },
    ),
    "frontend client CA widened to the Vault root CA": _temporal_env(
        "TEMPORAL_TLS_CLIENT1_CA_CERT", tls.CA_PATH
    ),
    "internode CA = root CA": _internode_ca_is_root,
    "the front with one replica": lambda objects: _by(objects, "Deployment", front.NAME)[
        "spec"
    ].update(replicas=1),
    "the front trusts the internode CA for callers": lambda objects: _container(
        _by(objects, "Deployment", front.NAME)
    ).update(
        command=[
            tls.INTERNODE_CA_PATH if a == tls.CA_PATH else a
            for a in _container(_by(objects, "Deployment", front.NAME))["command"]
        ]
    ),
    "the Job may replace the token key": lambda objects: next(
        o for o in objects if o["kind"] == "Role" and o["metadata"]["name"] == "vault-pki"
    )["rules"].append(
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": [front.TOKEN_KEY],
            "verbs": ["update"],
        }
    ),
}


@pytest.mark.parametrize("mutation", sorted(KIND_MUTATIONS))
def test_kind_front_checker_catches(mutation: str, kind_objects: list[dict[str, Any]]) -> None:
    objects = copy.deepcopy(kind_objects)
    KIND_MUTATIONS[mutation](objects)
    assert kind_front_violations(objects), mutation
