"""Vault PKI as code: a root CA, an intermediate, one client role per identity, one server role.

* ``pki`` holds the root CA (EC P-256, 10 years). Its only job is to sign the intermediate.
* ``pki_int`` holds the intermediate (5 years) that issues every certificate of the stack.
* ``pki_int/roles/<identity>`` (one per identity in the contract) issues *client*
  certificates whose CN (the only DNS name allowed) is the identity's name and whose URI
  SAN is ``spiffe://orders.local/ns/orders/sa/<identity>``; short-lived (``Ttls.cert``).
  Each identity's policy grants ``update`` on its own ``pki_int/issue/<identity>`` only,
  so identity A cannot obtain a certificate naming identity B (Vault answers 403).
* ``pki_int/roles/orders-servers`` issues *server* certificates for the names in
  :class:`orders.contract.pki_names.Server` (+ ``localhost`` and loopback IPs). No identity's
  policy reaches it: the stack's operator (root in dev) issues server certificates.
* ``pki_int/roles/temporal-server`` (``temporal.orders.local`` only, server usage: the
  authorization front every caller dials) and ``pki_int/roles/temporal-ui`` (the UI's client
  certificate) serve the deployed stacks (docker-compose, kind); no identity reaches them.
* ``pki_int/roles/temporal-db`` (Temporal's own Postgres) and ``pki_int/roles/codec-ingress``
  (the kind Ingress's browser-facing host) each issue server certificates for their one name
  (:func:`single_server_role`), so no other role can put those names on a certificate and
  these roles can name nothing else.

* ``pki_int/roles/temporal-admin`` issues the namespace step's client certificate (CN
  ``temporal-admin``, client usage only, minutes-long); no identity reaches it.

Temporal's internode trust is separate (:func:`apply_internode_pki`): ``pki_internode`` is a
self-signed root of its own, *not* chained to ``pki``, with two roles:

* ``temporal-internode``: ``temporal-frontend.orders.local`` only, server + client usage, the
  certificate of Temporal's frontend and of its internode TLS (history, matching, frontend,
  worker services);
* ``temporal-front``: the authorization front's client certificate (CN ``temporal-front``,
  client usage only).

Temporal's listeners trust this CA alone, so no certificate the Vault root CA vouches for (no
identity's, no person's, no other server's) is accepted by them: every caller goes through
the front. No policy but root's reaches ``pki_internode``.

Everything here is idempotent: the CAs are generated once; roles are rewritten each time,
and roles not in the contract are deleted.
"""

from __future__ import annotations

from typing import Any, Final

import hvac

from orders.contract import identities, pki_names

ROOT_TTL: Final = "87600h"
INTERMEDIATE_TTL: Final = "43800h"
SERVER_CERT_TTL: Final = "720h"
ROOT_CN: Final = "orders dev root CA"
INTERMEDIATE_CN: Final = "orders dev intermediate CA"
KEY: Final[dict[str, Any]] = {"key_type": "ec", "key_bits": 256}
INTERNODE_ROOT_CN: Final = "orders temporal internode CA"
ADMIN_CERT_TTL: Final = "15m"
"""Lifetime of the namespace step's ``temporal-admin`` client certificate (used once)."""


def _role(
    names: list[str],
    *,
    server: bool,
    client: bool,
    ttl: int | str = SERVER_CERT_TTL,
    uri_sans: list[str] | None = None,
    loopback: bool = False,
) -> dict[str, Any]:
    """A role issuing certificates for exactly ``names`` (no subdomains, globs, wildcards).

    Args:
        names: The only names (CN and DNS SANs) the role may put in a certificate.
        server: Server usage (serverAuth).
        client: Client usage (clientAuth).
        ttl: Lifetime (and maximum lifetime) of every certificate.
        uri_sans: The only URI SANs allowed.
        loopback: Also allow ``localhost`` and IP SANs (the dev stack's loopback servers).
    """
    return {
        **KEY,
        "allowed_domains": names,
        "allow_bare_domains": True,
        "allow_subdomains": False,
        "allow_glob_domains": False,
        "allow_wildcard_certificates": False,
        "allow_localhost": loopback,
        "allow_ip_sans": loopback,
        "allowed_uri_sans": uri_sans or [],
        "enforce_hostnames": True,
        "require_cn": True,
        "server_flag": server,
        "client_flag": client,
        "ttl": ttl,
        "max_ttl": ttl,
    }


def client_role(identity: identities.Identity, ttl: int) -> dict[str, Any]:
    """Body of ``pki_int/roles/<identity>``: client certificates naming ``identity`` only."""
    return _role(
        [identity.name],
        server=False,
        client=True,
        ttl=ttl,
        uri_sans=[pki_names.cert_uri(identity)],
    )


def server_role() -> dict[str, Any]:
    """Body of ``pki_int/roles/orders-servers``: the stack's server names only."""
    return _role([s.value for s in pki_names.Server], server=True, client=False, loopback=True)


def temporal_server_role() -> dict[str, Any]:
    """Body of ``pki_int/roles/temporal-server``: the authorization front's certificate.

    The one name every caller dials, ``temporal.orders.local``: server usage only, no
    localhost, no IP SANs. Temporal itself (frontend and internode, where each service is
    also a client of the others) has certificates from its own CA (:func:`internode_role`).
    """
    return _role([pki_names.Server.TEMPORAL.value], server=True, client=False)


def temporal_ui_role() -> dict[str, Any]:
    """Body of ``pki_int/roles/temporal-ui``: the UI server's client certificate only."""
    return _role([pki_names.TEMPORAL_UI_CERT_NAME], server=False, client=True)


def temporal_admin_role() -> dict[str, Any]:
    """Body of ``pki_int/roles/temporal-admin``: the namespace step's client certificate only."""
    return _role(
        [pki_names.TEMPORAL_ADMIN_CERT_NAME], server=False, client=True, ttl=ADMIN_CERT_TTL
    )


def keda_role() -> dict[str, Any]:
    """Body of ``pki_int/roles/keda-scaler``: KEDA's client certificate to the front only."""
    return _role([pki_names.KEDA_CERT_NAME], server=False, client=True)


def internode_role(ttl: int | str = SERVER_CERT_TTL) -> dict[str, Any]:
    """Body of ``pki_internode/roles/temporal-internode``: Temporal's frontend + internode.

    Server *and* client usage (Temporal's services call each other with the certificate they
    serve with), the one name ``temporal-frontend.orders.local``: no localhost, no IP SANs.
    """
    return _role([pki_names.TEMPORAL_FRONTEND_NAME], server=True, client=True, ttl=ttl)


def front_role(ttl: int | str = SERVER_CERT_TTL) -> dict[str, Any]:
    """Body of ``pki_internode/roles/temporal-front``: the front's client certificate only."""
    return _role([pki_names.TEMPORAL_FRONT_CERT_NAME], server=False, client=True, ttl=ttl)


def single_server_role(name: str) -> dict[str, Any]:
    """Body of a role that issues server certificates for ``name`` alone.

    No localhost, no IP SANs, no client usage: ``temporal-db`` and ``codec-ingress``, each a
    name only one server presents.
    """
    return _role([name], server=True, client=False)


def _ensure_pki_mount(client: hvac.Client, path: str, max_ttl: str) -> None:
    if f"{path}/" not in client.sys.list_mounted_secrets_engines()["data"]:
        client.sys.enable_secrets_engine("pki", path=path, config={"max_lease_ttl": max_ttl})


def _has_issuer(client: hvac.Client, mount: str) -> bool:
    listed = client.list(f"{mount}/issuers")
    return bool(listed and listed.get("data", {}).get("keys"))


def apply_pki(client: hvac.Client, cert_ttl: int) -> list[str]:
    """Create the CAs (once) and write every PKI role.

    Args:
        client: A client allowed to configure Vault (root in dev).
        cert_ttl: Lifetime of identities' client certificates, in seconds.

    Returns:
        The Vault paths written.
    """
    written: list[str] = []
    root, inter = pki_names.PKI_ROOT_MOUNT, pki_names.PKI_MOUNT
    _ensure_pki_mount(client, root, ROOT_TTL)
    _ensure_pki_mount(client, inter, INTERMEDIATE_TTL)
    if not _has_issuer(client, root):
        client.write_data(
            f"{root}/root/generate/internal",
            data={**KEY, "common_name": ROOT_CN, "ttl": ROOT_TTL, "issuer_name": "root"},
        )
        written.append(f"{root}/root/generate/internal")
    if not _has_issuer(client, inter):
        csr = client.write_data(
            f"{inter}/intermediate/generate/internal",
            data={**KEY, "common_name": INTERMEDIATE_CN},
        )["data"]["csr"]
        signed = client.write_data(
            f"{root}/root/sign-intermediate",
            data={"csr": csr, "format": "pem_bundle", "ttl": INTERMEDIATE_TTL},
        )["data"]
        chain = signed["certificate"] + "\n" + signed["issuing_ca"]
        client.write_data(f"{inter}/intermediate/set-signed", data={"certificate": chain})
        written.append(f"{inter}/intermediate/set-signed")
    roles = {pki_names.pki_role(i): client_role(i, cert_ttl) for i in identities.ALL}
    roles[pki_names.PKI_SERVER_ROLE] = server_role()
    roles[pki_names.PKI_TEMPORAL_ROLE] = temporal_server_role()
    roles[pki_names.PKI_TEMPORAL_UI_ROLE] = temporal_ui_role()
    roles[pki_names.PKI_TEMPORAL_DB_ROLE] = single_server_role(pki_names.TEMPORAL_DB_SERVER_NAME)
    roles[pki_names.PKI_CODEC_INGRESS_ROLE] = single_server_role(pki_names.CODEC_PUBLIC_HOST)
    roles[pki_names.PKI_TEMPORAL_ADMIN_ROLE] = temporal_admin_role()
    roles[pki_names.PKI_KEDA_ROLE] = keda_role()
    return written + _write_roles(client, inter, roles)


def _write_roles(client: hvac.Client, mount: str, roles: dict[str, dict[str, Any]]) -> list[str]:
    """Write ``roles`` on ``mount`` and delete every other role there."""
    written: list[str] = []
    for name, body in roles.items():
        client.write_data(f"{mount}/roles/{name}", data=body)
        written.append(f"{mount}/roles/{name}")
    existing = client.list(f"{mount}/roles") or {}
    for name in existing.get("data", {}).get("keys", []):
        if name not in roles:
            client.delete(f"{mount}/roles/{name}")
            written.append(f"-{mount}/roles/{name}")
    return written


def apply_internode_pki(client: hvac.Client, cert_ttl: int | str = SERVER_CERT_TTL) -> list[str]:
    """Create Temporal's internode CA (once, its own root) and write its two roles.

    Args:
        client: A client allowed to configure Vault (root in dev; the ``pki`` step).
        cert_ttl: Lifetime of the certificates both roles issue (seconds or ``"720h"``).

    Returns:
        The Vault paths written.
    """
    written: list[str] = []
    mount = pki_names.PKI_INTERNODE_MOUNT
    _ensure_pki_mount(client, mount, ROOT_TTL)
    if not _has_issuer(client, mount):
        client.write_data(
            f"{mount}/root/generate/internal",
            data={
                **KEY,
                "common_name": INTERNODE_ROOT_CN,
                "ttl": ROOT_TTL,
                "issuer_name": "internode",
            },
        )
        written.append(f"{mount}/root/generate/internal")
    roles = {
        pki_names.PKI_INTERNODE_ROLE: internode_role(cert_ttl),
        pki_names.PKI_FRONT_ROLE: front_role(cert_ttl),
    }
    return written + _write_roles(client, mount, roles)


def _ca_pem(client: hvac.Client, mount: str) -> str:
    resp = client.adapter.get(f"/v1/{mount}/ca/pem")
    text: str = resp.text if hasattr(resp, "text") else str(resp)
    return text.strip() + "\n"


def root_ca_pem(client: hvac.Client) -> str:
    """PEM of the root CA every client trusts (readable without a token)."""
    return _ca_pem(client, pki_names.PKI_ROOT_MOUNT)


def internode_ca_pem(client: hvac.Client) -> str:
    """PEM of Temporal's internode CA: what the frontend, its services and the front trust."""
    return _ca_pem(client, pki_names.PKI_INTERNODE_MOUNT)
