"""Vault PKI as code: a root CA, an intermediate, one client role per identity, one server role.

* ``pki`` holds the root CA (EC P-256, 10 years). Its only job is to sign the intermediate.
* ``pki_int`` holds the intermediate (5 years) that issues every certificate of the stack.
* ``pki_int/roles/<identity>`` (one per identity in the contract) issues *client*
  certificates whose CN (the only DNS name allowed) is the identity's name and whose URI
  SAN is ``spiffe://orders.local/ns/orders/sa/<identity>``; short-lived (``Ttls.cert``).
  Each identity's policy grants ``update`` on its own ``pki_int/issue/<identity>`` only,
  so identity A cannot obtain a certificate naming identity B (Vault answers 403).
* ``pki_int/roles/orders-servers`` issues *server* certificates for the names in
  :class:`orders.identities.Server` (+ ``localhost`` and loopback IPs). No identity's
  policy reaches it: the stack's operator (root in dev) issues server certificates.
* ``pki_int/roles/temporal-server`` (``temporal.orders.local`` only, server + client usage
  for Temporal's internode calls) and ``pki_int/roles/temporal-ui`` (the UI's client
  certificate) serve the deployed stacks (docker-compose, kind); no identity reaches them.
* ``pki_int/roles/temporal-db`` (Temporal's own Postgres) and ``pki_int/roles/codec-ingress``
  (the kind Ingress's browser-facing host) each issue server certificates for their one name
  (:func:`single_server_role`), so no other role can put those names on a certificate and
  these roles can name nothing else.

Everything here is idempotent: the CAs are generated once; roles are rewritten each time,
and roles not in the contract are deleted.
"""

from __future__ import annotations

from typing import Any, Final

import hvac

from orders import identities

ROOT_TTL: Final = "87600h"
INTERMEDIATE_TTL: Final = "43800h"
SERVER_CERT_TTL: Final = "720h"
ROOT_CN: Final = "orders dev root CA"
INTERMEDIATE_CN: Final = "orders dev intermediate CA"
KEY: Final[dict[str, Any]] = {"key_type": "ec", "key_bits": 256}


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
        uri_sans=[identities.cert_uri(identity)],
    )


def server_role() -> dict[str, Any]:
    """Body of ``pki_int/roles/orders-servers``: the stack's server names only."""
    return _role([s.value for s in identities.Server], server=True, client=False, loopback=True)


def temporal_server_role() -> dict[str, Any]:
    """Body of ``pki_int/roles/temporal-server``: the Temporal server's certificate.

    Temporal's services call each other (internode) with the same certificate they serve
    with, so it needs client *and* server usage. That is why it has a role of its own: the
    one name ``temporal.orders.local``, no localhost, no IP SANs, so no other server's name
    can be given client usage and this certificate names nothing else.
    """
    return _role([identities.Server.TEMPORAL.value], server=True, client=True)


def temporal_ui_role() -> dict[str, Any]:
    """Body of ``pki_int/roles/temporal-ui``: the UI server's client certificate only."""
    return _role([identities.TEMPORAL_UI_CERT_NAME], server=False, client=True)


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
    root, inter = identities.PKI_ROOT_MOUNT, identities.PKI_MOUNT
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
    roles = {identities.pki_role(i): client_role(i, cert_ttl) for i in identities.ALL}
    roles[identities.PKI_SERVER_ROLE] = server_role()
    roles[identities.PKI_TEMPORAL_ROLE] = temporal_server_role()
    roles[identities.PKI_TEMPORAL_UI_ROLE] = temporal_ui_role()
    roles[identities.PKI_TEMPORAL_DB_ROLE] = single_server_role(identities.TEMPORAL_DB_SERVER_NAME)
    roles[identities.PKI_CODEC_INGRESS_ROLE] = single_server_role(identities.CODEC_PUBLIC_HOST)
    for name, body in roles.items():
        client.write_data(f"{inter}/roles/{name}", data=body)
        written.append(f"{inter}/roles/{name}")
    existing = client.list(f"{inter}/roles") or {}
    for name in existing.get("data", {}).get("keys", []):
        if name not in roles:
            client.delete(f"{inter}/roles/{name}")
            written.append(f"-{inter}/roles/{name}")
    return written


def root_ca_pem(client: hvac.Client) -> str:
    """PEM of the root CA every client trusts (readable without a token)."""
    resp = client.adapter.get(f"/v1/{identities.PKI_ROOT_MOUNT}/ca/pem")
    text: str = resp.text if hasattr(resp, "text") else str(resp)
    return text.strip() + "\n"
