"""docker-compose networks: who may reach whom, derived from the identity contract.

No service shares another's network namespace. Each server has a network of its own,
named after it, that only its callers join; every network is ``internal: true`` (no route
out of the host, no published port) except :attr:`Net.INGRESS`, whose one member is the
``ingress`` relay publishing the browser-facing ports on loopback. So:

* an identity joins exactly the networks of what its contract lets it call
  (:func:`orders.deploy.common.peers`, the same table kind's NetworkPolicies come from):
  OpenBao; the authorization front for the workers; Postgres for identities with a database
  role; plus the identity endpoint, compose's stand-in for the kubelet projecting a
  ServiceAccount token (in kind that hop is not on the pod's network);
* a server is reached by its TLS name, an alias on its own network only
  (``openbao.orders.local`` on ``vault``, ...), so a caller verifies the name it dials;
* no container but the ingress relay has a route to the Internet.

What compose cannot say: two members of one network can reach each other (two workers on
``vault``); a per-pod policy exists in kind only. Nothing an identity serves is reachable
that way without authentication (workers serve nothing; the codec server requires a
person's token).

:func:`networks` answers "which networks does service X join" for every service of the
rendered files; :func:`service_networks` is what a service renders as its ``networks:``.
"""

from __future__ import annotations

import enum
from typing import Any, Final

from orders.contract import identities, pki_names
from orders.deploy import common, front, temporal_schema
from orders.deploy.common import CODEC_PORT, IDENTITY_PORT


class Net(enum.StrEnum):
    """The compose networks (one per server its callers reach, plus the ingress)."""

    INGRESS = "ingress"
    """The one non-internal network: the ingress relay alone (published ports)."""
    VAULT = "vault"
    """OpenBao and its callers."""
    POSTGRES = "postgres"
    """The application's Postgres and the identities with a database role (and OpenBao)."""
    FRONT = "temporal-front"
    """The authorization front and the callers of Temporal."""
    IDENTITY = "identity"
    """The identity endpoint (TokenRequest, TokenReview) and the identities, and OpenBao."""
    TEMPORAL = front.TEMPORAL_NETWORK
    """Temporal and the front (and the JWKS relay)."""
    TEMPORAL_DB = front.TEMPORAL_DB_NETWORK
    """Temporal and its own Postgres."""
    TEMPORAL_SCHEMA = temporal_schema.NETWORK
    """Temporal's Postgres and the schema step."""


IDENTITY_SERVICE: Final = "identity"
"""Compose service of the identity endpoint."""
IDENTITY_HOST: Final = pki_names.Server.IDENTITY.value
"""The identity endpoint's name (its certificate's DNS name, its issuer's host)."""
IDENTITY_URL: Final = f"https://{IDENTITY_HOST}:{IDENTITY_PORT}"
"""The identity endpoint as OpenBao (TokenReview) and every identity (TokenRequest) reach it."""
INGRESS_SERVICE: Final = "ingress"
UI_PORT: Final = 8080
VAULT_PORT: Final = 8200

PEER_NETWORK: Final = {
    common.TEMPORAL: Net.FRONT,
    common.VAULT: Net.VAULT,
    common.POSTGRES: Net.POSTGRES,
}
"""The network of each contract peer (:data:`orders.deploy.common.DNS` needs none: compose's
resolver answers on every network)."""

ALIASES: Final[dict[str, dict[Net, str]]] = {
    "openbao": {Net.VAULT: pki_names.Server.OPENBAO.value},
    "postgres": {Net.POSTGRES: pki_names.Server.POSTGRES.value},
    front.NAME: {Net.FRONT: pki_names.Server.TEMPORAL.value},
    IDENTITY_SERVICE: {Net.IDENTITY: IDENTITY_HOST},
    "temporal": {Net.TEMPORAL: front.FRONTEND},
    # Temporal's key-set fetches reach OpenBao's name on Temporal's network: the relay.
    front.RELAY: {Net.TEMPORAL: pki_names.Server.OPENBAO.value},
    "temporal-db": {
        Net.TEMPORAL_DB: pki_names.TEMPORAL_DB_SERVER_NAME,
        Net.TEMPORAL_SCHEMA: pki_names.TEMPORAL_DB_SERVER_NAME,
    },
}
"""The TLS name a server has on a network (the alias its callers there dial)."""

INFRA: Final[dict[str, tuple[Net, ...]]] = {
    INGRESS_SERVICE: (Net.INGRESS, Net.VAULT),
    # Kubernetes auth (TokenReview), the database engine.
    "openbao": (Net.VAULT, Net.IDENTITY, Net.POSTGRES),
    IDENTITY_SERVICE: (Net.IDENTITY,),
    "postgres": (Net.POSTGRES,),
    # The identities' machine JWKS and people's, from OpenBao.
    front.NAME: (Net.FRONT, Net.TEMPORAL, Net.VAULT),
    front.RELAY: (Net.VAULT, Net.TEMPORAL),
    "temporal": (Net.TEMPORAL, Net.TEMPORAL_DB),
    "temporal-db": (Net.TEMPORAL_DB, Net.TEMPORAL_SCHEMA),
    temporal_schema.NAME: (Net.TEMPORAL_SCHEMA,),
    # Temporal through the front; OpenBao as the people's OIDC provider.
    "temporal-ui": (Net.FRONT, Net.VAULT),
    "openbao-init": (Net.VAULT,),
    "pki": (Net.VAULT,),
    # The database bootstrap goes over Postgres' socket (a volume), not a network.
    "setup": (Net.VAULT,),
    "temporal-namespace": (Net.VAULT, Net.FRONT),
    "temporal-promote": (Net.VAULT, Net.FRONT),
    "tls-bootstrap": (),
}
"""The servers' and setup steps' networks: what each one calls, and its own."""


def identity_networks(identity: identities.Identity) -> tuple[Net, ...]:
    """``identity``'s networks: its contract peers' (:func:`common.peers`) and the endpoint's."""
    peers = tuple(PEER_NETWORK[p] for p in common.peers(identity) if p in PEER_NETWORK)
    return (*peers, Net.IDENTITY)


def networks(service: str) -> tuple[Net, ...]:
    """The networks compose service ``service`` joins (empty: no network at all).

    Raises:
        KeyError: If ``service`` is no service of the rendered files.
    """
    if service in INFRA:
        return INFRA[service]
    if service in identities.BY_NAME:
        return identity_networks(identities.get(service))
    raise KeyError(f"no compose service {service!r}")


def service_networks(service: str) -> list[str] | dict[str, Any]:
    """The ``networks:`` of ``service``: a list, or a mapping where it has an alias."""
    aliases = ALIASES.get(service, {})
    if not aliases:
        return [net.value for net in networks(service)]
    return {
        net.value: {"aliases": [aliases[net]]} if net in aliases else {}
        for net in networks(service)
    }


def compose_networks() -> dict[str, Any]:
    """The top-level ``networks:``: every one internal but the ingress."""
    return {net.value: {} if net is Net.INGRESS else {"internal": True} for net in Net}


INGRESS_ROUTES: Final = (
    (VAULT_PORT, "openbao", VAULT_PORT),
    (UI_PORT, "temporal-ui", UI_PORT),
    (CODEC_PORT, identities.CODEC_SERVER.name, CODEC_PORT),
)
"""Published port -> the service (on :attr:`Net.VAULT`) and its port:
OpenBao's login page (the people's OIDC provider), the Temporal UI, the codec server."""


def ingress() -> dict[str, Any]:
    """The ``ingress`` relay: the browser-facing ports, on loopback, and nothing else.

    Bytes only (:mod:`orders.deploy.relay`): TLS stays end to end from the browser to
    OpenBao and to the codec server; it holds no key, no token, no secret.
    """
    from orders.deploy import compose_infra as ci

    routes = [
        a
        for port, host, to in INGRESS_ROUTES
        for a in ("--listen", f"0.0.0.0:{port}", "--to", f"{host}:{to}")
    ]
    probe = (
        "import socket; [socket.create_connection(('127.0.0.1', p), 3).close() "
        f"for p in {[port for port, _, _ in INGRESS_ROUTES]}]"
    )
    return ci.project_service(
        ["python", "-m", "orders.deploy.relay", *routes],
        ports=[f"127.0.0.1:{port}:{port}" for port, _, _ in INGRESS_ROUTES],
        networks=service_networks(INGRESS_SERVICE),
        healthcheck=ci.healthcheck(["CMD", "python", "-c", probe]),
        depends_on=ci.healthy("openbao"),
        restart="unless-stopped",
    )
