"""Names of the contract's PKI: mounts, roles, server names and certificate URIs."""

from __future__ import annotations

import enum
from typing import Final

from orders.contract.identities import K8S_NAMESPACE, Identity

PKI_ROOT_MOUNT: Final = "pki"
"""Vault PKI mount of the root CA (signs the intermediate only)."""
PKI_MOUNT: Final = "pki_int"
"""Vault PKI mount of the intermediate CA that issues every certificate of the stack."""
PKI_SERVER_ROLE: Final = "orders-servers"
"""PKI role for server certificates (only the stack's operator/root may use it)."""
PKI_TEMPORAL_ROLE: Final = "temporal-server"
"""PKI role for the certificate of ``temporal.orders.local``, the name every caller dials:
the authorization front's (server usage only). Temporal's own certificate comes from its
internode CA (:data:`PKI_INTERNODE_ROLE`)."""
PKI_TEMPORAL_UI_ROLE: Final = "temporal-ui"
"""PKI role for the Temporal UI server's client certificate (a deployment's UI is a client
of the mTLS frontend and no identity of the contract)."""
TEMPORAL_UI_CERT_NAME: Final = "temporal-ui"
"""CN of the Temporal UI's client certificate."""
TEMPORAL_DB_SERVER_NAME: Final = "temporal-db.orders.local"
"""TLS name of Temporal's own Postgres in docker-compose and kind (only Temporal talks to it,
so it is not a :class:`Server` of the application and ``orders-servers`` cannot issue it)."""
PKI_TEMPORAL_DB_ROLE: Final = "temporal-db"
"""PKI role for temporal-db's server certificate: that one name, server usage only."""
CODEC_PUBLIC_HOST: Final = "codec.orders.localhost"
"""The codec server's browser-facing host in kind (its Ingress; browsers trust the root CA)."""
PKI_CODEC_INGRESS_ROLE: Final = "codec-ingress"
"""PKI role for the Ingress certificate of :data:`CODEC_PUBLIC_HOST`: that one name only."""
PKI_TEMPORAL_ADMIN_ROLE: Final = "temporal-admin"
"""PKI role (on :data:`PKI_MOUNT`) for the namespace step's client certificate: CN
:data:`TEMPORAL_ADMIN_CERT_NAME`, client usage only, minutes-long. No policy reaches it: only
the setup step, with the root token, issues one (kept in memory) to register the namespace
through the authorization front."""
TEMPORAL_ADMIN_CERT_NAME: Final = "temporal-admin"
"""CN of that certificate: the front's one principal that may register/describe the namespace."""
KEDA_CERT_NAME: Final = "keda-scaler"
"""CN of KEDA's client certificate to the front: the principal whose one grant is to
describe the workers' task queues (their backlog), :func:`temporal_access.keda_access`."""
PKI_KEDA_ROLE: Final = "keda-scaler"
"""PKI role (on :data:`PKI_MOUNT`) issuing :data:`KEDA_CERT_NAME` only, client usage only. No
policy reaches it: the operator issues one for KEDA's ``TriggerAuthentication`` Secret."""
PKI_INTERNODE_MOUNT: Final = "pki_internode"
"""Vault PKI mount of Temporal's internode CA: a self-signed root of its own, *not* chained to
:data:`PKI_ROOT_MOUNT`, so no certificate of the Vault root CA (no identity's, no server's) is
accepted by Temporal's frontend or internode listeners; only the authorization front and
Temporal's own services hold certificates from it."""
PKI_INTERNODE_ROLE: Final = "temporal-internode"
"""PKI role (on :data:`PKI_INTERNODE_MOUNT`) for Temporal's frontend and internode certificate:
the one name :data:`TEMPORAL_FRONTEND_NAME`, server *and* client usage (history, matching,
frontend and worker services call each other with it)."""
PKI_FRONT_ROLE: Final = "temporal-front"
"""PKI role (on :data:`PKI_INTERNODE_MOUNT`) for the authorization front's client certificate
to the frontend: CN :data:`TEMPORAL_FRONT_CERT_NAME`, client usage only."""
TEMPORAL_FRONT_CERT_NAME: Final = "temporal-front"
"""CN of the authorization front's internode client certificate."""
TEMPORAL_FRONTEND_NAME: Final = "temporal-frontend.orders.local"
"""TLS name of the real Temporal frontend (behind the front; :attr:`Server.TEMPORAL`, the name
every caller dials, is the front's)."""
CERT_URI_PREFIX: Final = f"spiffe://orders.local/ns/{K8S_NAMESPACE}/sa/"
"""URI SAN of a client certificate: this prefix + the identity's ServiceAccount."""


class Server(enum.StrEnum):
    """TLS server names (certificate CN/DNS SAN, and the name clients verify)."""

    TEMPORAL = "temporal.orders.local"
    POSTGRES = "postgres.orders.local"
    OPENBAO = "openbao.orders.local"
    CODEC = "codec.orders.local"
    IDENTITY = "identity.orders.local"


def pki_role(identity: Identity) -> str:
    """Vault PKI role issuing ``identity``'s client certificates (CN = its name)."""
    return identity.name


def cert_uri(identity: Identity) -> str:
    """URI SAN of ``identity``'s client certificates."""
    return CERT_URI_PREFIX + identity.service_account
