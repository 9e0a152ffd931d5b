"""TLS of the deployed stacks (docker-compose, kind): every server's certificate from Vault PKI.

The servers use their own native TLS (Temporal's config template, Postgres ``ssl=on``,
OpenBao's listener, the codec server's uvicorn); this module issues their certificates and
hands them over, and holds the paths and names the renderers and tests share.

Bootstrap. OpenBao's listener needs a certificate before its PKI exists, so the
``tls-bootstrap`` step writes a throwaway one (a one-day CA whose key is never written,
:func:`orders.devstack.tls.bootstrap_server_cert`). The ``pki`` step (root token) then
creates the CAs and roles (:func:`orders.vault.pki.apply_pki`, the same roles as the local
stack), writes the root CA, and issues:

* ``openbao``, ``postgres``, ``codec``: role ``orders-servers`` (server usage only);
* ``temporal``: role ``temporal-server`` (``temporal.orders.local``, its one name, server
  usage): the authorization front every caller dials (:mod:`orders.deploy.front`);
* ``temporal-internode`` and ``temporal-front``: from Temporal's *internode* CA
  (``pki_internode``, a root of its own, see :mod:`orders.vault.pki`): the real frontend's
  and internode certificate (``temporal-frontend.orders.local``, server + client usage) and
  the front's client certificate to it (CN ``temporal-front``); the internode CA is written
  next to the root CA as :data:`INTERNODE_CA_FILE`;
* ``temporal-ui``: role ``temporal-ui`` (client usage only, CN ``temporal-ui``);
* ``temporal-db`` (Temporal's own Postgres): role ``temporal-db`` (that one name, server only);
* ``codec-ingress`` (kind only: the Ingress's browser-facing host): role ``codec-ingress``.

Reload without restart. The servers run under one script, ``orders/deploy/files/tls-reload.sh``
(:func:`reloading_command`), which looks for a re-issued certificate every
:data:`RELOAD_SECONDS`, copies it, and tells the server: OpenBao
reloads its listener on SIGHUP (this is how it moves from the bootstrap certificate to the one
from its own PKI), Postgres on ``pg_ctl reload`` (SIGHUP to the postmaster, which re-reads
``ssl_cert_file``/``ssl_key_file``), and Temporal needs no signal: with
``TEMPORAL_TLS_REFRESH_INTERVAL`` set, its cert provider re-reads the files on that interval.
The Temporal UI reads its client certificate at start only.

Clients trust the Vault root CA alone; only the two bootstrap-phase steps (unseal,
``pki``/``configure``) also trust the bootstrap CA, whose key no longer exists.

Who may read a key. In compose the one-shot writer runs as the project's UID; a server's
key is written ``0640`` with the *server's* group (the writer is given that group with
``group_add``) into a volume that only that server and the writer mount, and each server's
entrypoint copies it ``0600`` into its own tmpfs before starting (Postgres insists on owning
it). In kind the keys are Secrets mounted with ``defaultMode: 0400`` into the one pod that
uses them.
"""

# Container paths: "/tmp" is each server's own tmpfs, not the host's shared temp dir.
# ruff: noqa: S108

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import hvac

from orders.contract import pki_names
from orders.contract.pki_names import Server
from orders.files import write_public, write_secret
from orders.security import certs

CERT_FILE: Final = "tls.crt"
KEY_FILE: Final = "tls.key"
CA_FILE: Final = "ca.pem"
"""The Vault root CA, the one trust anchor of every client."""
INTERNODE_CA_FILE: Final = "internode-ca.pem"
"""Temporal's internode CA: the only CA Temporal's listeners trust (and the front's upstream)."""
BOOTSTRAP_CA_FILE: Final = "bootstrap-ca.pem"
"""The throwaway CA of OpenBao's first listener certificate (key never written)."""

CA_DIR: Final = "/run/orders-ca"
"""Where every container finds the CA files (public: a volume / ConfigMap of CAs only)."""
TLS_DIR: Final = "/run/orders-tls"
"""Where a server finds its own certificate and key as handed over (volume / Secret)."""
LIVE_TLS_DIR: Final = "/tmp/orders-tls"
"""The server's own 0600 copy in its tmpfs, which the server process reads."""
CA_PATH: Final = f"{CA_DIR}/{CA_FILE}"
INTERNODE_CA_PATH: Final = f"{CA_DIR}/{INTERNODE_CA_FILE}"

SERVER_CERT_PATH: Final = f"{LIVE_TLS_DIR}/{CERT_FILE}"
SERVER_KEY_PATH: Final = f"{LIVE_TLS_DIR}/{KEY_FILE}"


@dataclass(frozen=True)
class CertSpec:
    """One certificate a deployed stack needs.

    Attributes:
        name: Short name: compose volume ``tls-<name>``, Secret ``tls-<name>``.
        role: PKI role that issues it.
        common_name: Its CN (a server name, or the UI's client name).
        localhost: Whether ``localhost``/127.0.0.1 are added (servers reached on loopback:
            in compose's shared network namespace, or through ``kubectl port-forward``).
        compose: Whether docker-compose uses it too (else kind only).
        mount: PKI mount of ``role`` (the Vault root CA's intermediate unless told).
    """

    name: str
    role: str
    common_name: str
    localhost: bool = False
    compose: bool = True
    mount: str = pki_names.PKI_MOUNT

    @property
    def volume(self) -> str:
        """Compose volume (and Kubernetes Secret) holding this certificate and key."""
        return f"tls-{self.name}"


OPENBAO: Final = CertSpec("openbao", pki_names.PKI_SERVER_ROLE, Server.OPENBAO.value, True)
POSTGRES: Final = CertSpec("postgres", pki_names.PKI_SERVER_ROLE, Server.POSTGRES.value, True)
TEMPORAL: Final = CertSpec("temporal", pki_names.PKI_TEMPORAL_ROLE, Server.TEMPORAL.value)
TEMPORAL_UI: Final = CertSpec(
    "temporal-ui", pki_names.PKI_TEMPORAL_UI_ROLE, pki_names.TEMPORAL_UI_CERT_NAME
)
CODEC: Final = CertSpec("codec", pki_names.PKI_SERVER_ROLE, Server.CODEC.value, True)
TEMPORAL_DB: Final = CertSpec(
    "temporal-db", pki_names.PKI_TEMPORAL_DB_ROLE, pki_names.TEMPORAL_DB_SERVER_NAME
)
CODEC_INGRESS: Final = CertSpec(
    "codec-ingress",
    pki_names.PKI_CODEC_INGRESS_ROLE,
    pki_names.CODEC_PUBLIC_HOST,
    compose=False,
)
TEMPORAL_INTERNODE: Final = CertSpec(
    "temporal-internode",
    pki_names.PKI_INTERNODE_ROLE,
    pki_names.TEMPORAL_FRONTEND_NAME,
    mount=pki_names.PKI_INTERNODE_MOUNT,
)
TEMPORAL_FRONT: Final = CertSpec(
    "temporal-front",
    pki_names.PKI_FRONT_ROLE,
    pki_names.TEMPORAL_FRONT_CERT_NAME,
    mount=pki_names.PKI_INTERNODE_MOUNT,
)
SPECS: Final = (
    OPENBAO,
    POSTGRES,
    TEMPORAL,
    TEMPORAL_UI,
    CODEC,
    TEMPORAL_DB,
    CODEC_INGRESS,
    TEMPORAL_INTERNODE,
    TEMPORAL_FRONT,
)
COMPOSE_SPECS: Final = tuple(s for s in SPECS if s.compose)
BY_NAME: Final = {s.name: s for s in SPECS}

RELOAD_SECONDS: Final = 10
"""How often a server's entrypoint looks for a re-issued certificate."""
TEMPORAL_REFRESH: Final = "60s"
"""How often Temporal re-reads its certificate files (``TEMPORAL_TLS_REFRESH_INTERVAL``)."""
PG_RELOAD: Final = "pg"
"""Reload mode of Postgres: ``pg_ctl reload`` makes the postmaster re-read its certificate."""
HUP: Final = "hup"
"""Reload mode of OpenBao: SIGHUP reloads its listener's certificate."""
NO_RELOAD: Final = "none"
"""Reload mode of a server that re-reads its files itself (Temporal)."""
RELOAD_SCRIPT: Final = "tls-reload.sh"
"""The reload script (``orders/deploy/files/``), one file for every server and target."""
RELOAD_DIR: Final = "/etc/orders-tls-reload"
RELOAD_SCRIPT_PATH: Final = f"{RELOAD_DIR}/{RELOAD_SCRIPT}"
"""Where the servers' containers find it (compose ``configs:``, kind ConfigMap)."""


def copy_script(live: str = LIVE_TLS_DIR) -> str:
    """Copy the handed-over pair (from ``$src``) into ``live``, the key 0600 and its own."""
    return (
        f'(umask 077 && mkdir -p {live} && cat "$$src/{CERT_FILE}" > {live}/{CERT_FILE} '
        f'&& cat "$$src/{KEY_FILE}" > {live}/{KEY_FILE})'
    )


def _pick(sources: Iterable[str]) -> str:
    dirs = " ".join(sources)
    return f'src=; for d in {dirs}; do [ -s "$$d/{CERT_FILE}" ] && src=$$d && break; done; '


def _k8s(script: str, k8s: bool) -> str:
    # Compose interpolates "$" (so "$$" is a literal one); Kubernetes only "$(VAR)".
    return script.replace("$$", "$") if k8s else script


def copy_then(
    command: str,
    *,
    sources: Iterable[str] = (TLS_DIR,),
    live: str = LIVE_TLS_DIR,
    k8s: bool = False,
) -> str:
    """A ``sh -c`` script: copy the certificate 0600 into tmpfs, then run ``command``.

    Args:
        command: The rest of the script (usually ``exec <server> ...``).
        sources: Directories to take the pair from, the first that has one.
        live: Where the server reads its copy (its own tmpfs).
        k8s: Kubernetes spelling (``$`` is literal there; compose needs ``$$``).
    """
    return _k8s(_pick(sources) + copy_script(live) + f" && {command}", k8s)


def reloading_command(server: list[str], reload: str) -> list[str]:
    """Entrypoint running ``server`` under the reload script (``files/tls-reload.sh``).

    The script copies the handed-over pair 0600 into the server's tmpfs, starts the server,
    looks for a re-issued certificate every :data:`RELOAD_SECONDS` and, after a new copy,
    tells the server as ``reload`` says (:data:`HUP`, :data:`PG_RELOAD` or
    :data:`NO_RELOAD`). Compose mounts it through a top-level ``configs:`` entry, kind
    through the ConfigMap ``tls-reload``; both at :data:`RELOAD_SCRIPT_PATH`.

    Args:
        server: The server's argv (not ``exec``-ed: the script stays to watch).
        reload: How the running server learns of a new copy.
    """
    return ["/bin/sh", RELOAD_SCRIPT_PATH, reload, *server]


# --------------------------------------------------------------------------- issuing


def issue(client: hvac.Client, spec: CertSpec) -> certs.IssuedCert:
    """Issue ``spec``'s certificate with ``client`` (root / the stack's operator)."""
    return certs.issue(
        client,
        spec.role,
        spec.common_name,
        alt_names=("localhost",) if spec.localhost else (),
        ip_sans=("127.0.0.1",) if spec.localhost else (),
        mount=spec.mount,
    )


def write_pair(directory: Path, cert_pem: str, key_pem: str, gid: int | None) -> None:
    """Write a certificate (0644) and its key: 0600, or 0640 with group ``gid`` if given.

    A key is never world-readable; group read is only for the server's own group (the
    server then copies it 0600 as its own user before it starts).
    """
    directory.mkdir(parents=True, exist_ok=True)
    write_secret(directory / KEY_FILE, key_pem.strip() + "\n", gid=gid)
    write_public(directory / CERT_FILE, cert_pem.strip() + "\n")


def write_ca(path: Path, pem: str) -> None:
    """Write a CA certificate (public, 0644)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_public(path, pem.strip() + "\n")


def bootstrap(directory: Path, ca_file: Path, gid: int | None) -> bool:
    """OpenBao's first listener certificate, unless one is there already.

    Returns:
        Whether a bootstrap certificate was written.
    """
    from orders.devstack.tls import bootstrap_server_cert

    if (directory / CERT_FILE).exists():
        return False
    with tempfile.TemporaryDirectory() as tmp:
        cert, key, ca = Path(tmp, "c"), Path(tmp, "k"), Path(tmp, "ca")
        bootstrap_server_cert(cert, key, ca)
        write_pair(directory, cert.read_text(), key.read_text(), gid)
        write_ca(ca_file, ca.read_text())
    return True


def trust_bundle(files: Iterable[Path]) -> str:
    """One CA file (in a private temp file) with every existing file of ``files``.

    The bootstrap-phase steps talk to an OpenBao that may still serve its bootstrap
    certificate or already the one from its PKI.
    """
    pems = [f.read_text().strip() for f in files if f.exists()]
    if not pems:
        raise FileNotFoundError("no CA file to trust")
    fd, name = tempfile.mkstemp(prefix="orders-ca-", suffix=".pem")
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(pems) + "\n")
    return name


def secret_body(name: str, cert: certs.IssuedCert) -> dict[str, Any]:
    """A ``kubernetes.io/tls`` Secret of ``cert`` (full chain and key)."""
    return pem_secret_body(name, cert.fullchain, cert.private_key)


def pem_secret_body(name: str, cert_pem: str, key_pem: str) -> dict[str, Any]:
    """A ``kubernetes.io/tls`` Secret (``tls.crt``, ``tls.key``)."""
    data = {CERT_FILE: cert_pem.strip() + "\n", KEY_FILE: key_pem.strip() + "\n"}
    return _secret(name, "kubernetes.io/tls", data)


def ca_secret_body(name: str, ca_pem: str) -> dict[str, Any]:
    """A Secret holding only a CA certificate as ``ca.crt`` (for ingress-nginx)."""
    return _secret(name, "Opaque", {"ca.crt": ca_pem.strip() + "\n"})


def _secret(name: str, kind: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": kind,
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "hardened-orders"}},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }
