"""kind: the NetworkPolicies of ``orders-infra`` — default-deny plus exact allows.

The application namespace has had a default-deny and one policy per identity since the
base was generated (:mod:`orders.deploy.k8s_base`); the servers' namespace had none, so
anything in the cluster could reach OpenBao, Postgres or Temporal's database. Now
``orders-infra`` denies all ingress and egress, and each server or Job gets exactly:

===================  ==========================================  ===========================
pods                 ingress from                                egress to
===================  ==========================================  ===========================
openbao              every identity pod of ``orders``; Temporal,  Postgres (database engine);
                     the front (key sets); the setup Jobs         the apiserver (TokenReview)
postgres             ``orders`` identities with a DB role,         nothing
                     OpenBao, the vault-configure Job
temporal-db          Temporal, the temporal-schema Job            nothing
temporal             (:func:`orders.deploy.front.temporal_policy`) temporal-db, OpenBao,
                                                                  its own pods (internode)
temporal-front       (:func:`orders.deploy.front.front_policy`)    Temporal, OpenBao
temporal-ui          nobody (``kubectl port-forward`` only)        the front
temporal-schema      nobody                                        temporal-db
openbao-unseal,      nobody                                        OpenBao, the apiserver
vault-pki
vault-configure      nobody                                        OpenBao, Postgres, apiserver
temporal-namespace,  nobody                                        OpenBao, the front
temporal-promote
===================  ==========================================  ===========================

plus DNS for every pod that dials a name. The apiserver is no pod a policy can select: its
allow is an ``ipBlock`` (:data:`APISERVER_CIDRS`: the ``kubernetes`` Service address and
kind's node network, both kind defaults — another cluster sets its own). ``kubectl
port-forward`` enters the pod's network namespace through the kubelet, so no policy
concerns it (the UI and the demo's forwards keep working). ``make manifests`` writes the
policies to ``k8s/overlays/kind/infra/networkpolicies/``; a unit test builds the overlay
and fails on a missing default-deny or a widened allow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from orders.contract import identities
from orders.deploy import front, temporal_schema

INFRA: Final = front.INFRA
DIR: Final = Path("k8s/overlays/kind/infra/networkpolicies")
_NAME: Final = "app.kubernetes.io/name"
APISERVER_CIDRS: Final = ("10.96.0.1/32", "172.18.0.0/16")
"""The ``kubernetes`` Service VIP (before DNAT) and kind's Docker network (after it)."""
APISERVER_PORTS: Final = (443, 6443)
SETUP_JOBS: Final = ("openbao-unseal", "vault-pki", "vault-configure", *front.ADMIN_JOBS)
"""The Jobs that talk to OpenBao (``temporal-namespace`` and ``temporal-promote`` last)."""
API_JOBS: Final = ("openbao-unseal", "vault-pki", "vault-configure")
"""The Jobs that write Secrets / ConfigMaps through the apiserver."""
PG_PORT: Final = 5432


def _pods(namespace: str, *names: str) -> dict[str, Any]:
    return front.pods(namespace, tuple(sorted(names)))


_tcp = front.tcp


DNS_RULE: Final = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}
APISERVER_RULE: Final = {
    "to": [{"ipBlock": {"cidr": c}} for c in APISERVER_CIDRS],
    "ports": _tcp(*APISERVER_PORTS),
}


def _to(*names: str, port: int) -> dict[str, Any]:
    return {"to": [_pods(INFRA, *names)], "ports": _tcp(port)}


def policy(
    name: str,
    *,
    ingress: list[dict[str, Any]] | None = None,
    egress: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A NetworkPolicy for the pods named ``name``; ``None`` leaves that direction alone."""
    spec: dict[str, Any] = {"podSelector": {"matchLabels": {_NAME: name}}, "policyTypes": []}
    if ingress is not None:
        spec["policyTypes"].append("Ingress")
        spec["ingress"] = ingress
    if egress is not None:
        spec["policyTypes"].append("Egress")
        spec["egress"] = egress
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": f"{name}-allow" if name != "default-deny" else name,
            "namespace": INFRA,
            "labels": {"app.kubernetes.io/part-of": "hardened-orders"},
        },
        "spec": spec,
    }


def default_deny() -> dict[str, Any]:
    """Every pod of ``orders-infra``: no ingress, no egress, unless a policy below allows."""
    obj = policy("default-deny", ingress=[], egress=[])
    obj["spec"]["podSelector"] = {}
    return obj


def policies() -> dict[str, dict[str, Any]]:
    """File name -> object, for every policy of ``orders-infra`` in this directory.

    The front's policy and Temporal's ingress are :mod:`orders.deploy.front`'s (files of
    their own directories, checked equal by ``test_front.py``).
    """
    workloads = [i.name for i in (*identities.workers(), identities.CODEC_SERVER)]
    workloads.append(identities.ORDER_MIGRATE.name)
    with_db = [i.name for i in identities.ALL if i.has_db_role]
    openbao_port, frontend = front.OPENBAO_PORT, front.FRONTEND_PORT
    objs = [
        default_deny(),
        policy(
            front.OPENBAO_APP,
            ingress=[
                {
                    "from": [
                        _pods(identities.K8S_NAMESPACE, *workloads),
                        _pods(INFRA, front.TEMPORAL_APP, front.NAME, *SETUP_JOBS),
                    ],
                    "ports": _tcp(openbao_port),
                }
            ],
            egress=[DNS_RULE, _to("postgres", port=PG_PORT), APISERVER_RULE],
        ),
        policy(
            "postgres",
            ingress=[
                {
                    "from": [
                        _pods(identities.K8S_NAMESPACE, *with_db),
                        _pods(INFRA, front.OPENBAO_APP, "vault-configure"),
                    ],
                    "ports": _tcp(PG_PORT),
                }
            ],
            egress=[],
        ),
        policy(
            "temporal-db",
            ingress=[
                {
                    "from": [_pods(INFRA, front.TEMPORAL_APP, temporal_schema.NAME)],
                    "ports": _tcp(PG_PORT),
                }
            ],
            egress=[],
        ),
        policy(
            front.TEMPORAL_APP,
            egress=[
                DNS_RULE,
                _to("temporal-db", port=PG_PORT),
                _to(front.OPENBAO_APP, port=openbao_port),
                {
                    "to": [_pods(INFRA, front.TEMPORAL_APP)],
                    "ports": _tcp(frontend, *front.INTERNODE_PORTS),
                },
            ],
        ),
        policy("temporal-ui", ingress=[], egress=[DNS_RULE, _to(front.NAME, port=front.PORT)]),
        policy(
            temporal_schema.NAME, ingress=[], egress=[DNS_RULE, _to("temporal-db", port=PG_PORT)]
        ),
    ]
    for job in SETUP_JOBS:
        egress = [DNS_RULE, _to(front.OPENBAO_APP, port=openbao_port)]
        if job in API_JOBS:
            egress.append(APISERVER_RULE)
        if job == "vault-configure":
            egress.append(_to("postgres", port=PG_PORT))
        if job in front.ADMIN_JOBS:
            egress.append(_to(front.NAME, port=front.PORT))
        objs.append(policy(job, ingress=[], egress=egress))
    return {f"{o['metadata']['name']}.yaml": o for o in objs}
