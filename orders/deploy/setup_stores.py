"""Kubernetes and file stores of the setup steps (:mod:`orders.deploy.setup`).

Where the unseal key and root token are kept (a 0700 directory in compose, a Secret in
kind), and the Secrets and ConfigMaps the PKI and configure steps write with the Job's own
API token. Every Kubernetes import is local: compose's steps never load the client.
"""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path
from typing import Any, Final, Protocol

import hvac
import structlog

from orders.files import write_private

log = structlog.get_logger(__name__)

UNSEAL_KEY: Final = "unseal-key"
ROOT_TOKEN: Final = "root-token"  # noqa: S105 - the name of a file/Secret key, not a token
SERVICE_ACCOUNT_NAMESPACE: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class KeyStore(Protocol):
    """Where the unseal key and the root token are kept."""

    def load(self) -> dict[str, str] | None:
        """The stored values, or None before the first initialisation."""

    def save(self, values: dict[str, str]) -> None:
        """Store ``values`` (replacing what was there)."""


class DirectoryStore:
    """One 0600 file per value in a 0700 directory (a compose volume)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def load(self) -> dict[str, str] | None:
        """Read every value; None if the directory holds none."""
        if not (self.directory / UNSEAL_KEY).exists():
            return None
        return {
            name: (self.directory / name).read_text().strip()
            for name in (UNSEAL_KEY, ROOT_TOKEN)
            if (self.directory / name).exists()  # a root token only in stores of old versions
        }

    def save(self, values: dict[str, str]) -> None:
        """Write each value atomically with mode 0600 (and drop known values not given)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name in {UNSEAL_KEY, ROOT_TOKEN} - set(values):
            (self.directory / name).unlink(missing_ok=True)
        for name, value in values.items():
            write_private(self.directory / name, value + "\n")


class SecretStore:
    """A Kubernetes Secret, read and written with the pod's own (projected) API token."""

    def __init__(self, api: Any, namespace: str, name: str) -> None:
        """Args: api: a ``kubernetes.client.CoreV1Api``; namespace and name of the Secret."""
        self.api = api
        self.namespace = namespace
        self.name = name

    @classmethod
    def in_cluster(cls, name: str) -> SecretStore:
        """The Secret ``name`` in this pod's namespace."""
        from kubernetes import client, config

        config.load_incluster_config()  # type: ignore[no-untyped-call]
        return cls(client.CoreV1Api(), SERVICE_ACCOUNT_NAMESPACE.read_text().strip(), name)

    def load(self) -> dict[str, str] | None:
        """Decode the Secret's data; None if it does not exist."""
        from kubernetes.client.exceptions import ApiException

        try:
            secret = self.api.read_namespaced_secret(self.name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        data = secret.data or {}
        return {k: base64.b64decode(v).decode() for k, v in data.items()}

    def save(self, values: dict[str, str]) -> None:
        """Create the Secret, or replace its data if it exists."""
        from kubernetes.client import V1ObjectMeta, V1Secret
        from kubernetes.client.exceptions import ApiException

        body = V1Secret(
            metadata=V1ObjectMeta(
                name=self.name, labels={"app.kubernetes.io/part-of": "hardened-orders"}
            ),
            type="Opaque",
            string_data=values,
        )
        try:
            self.api.create_namespaced_secret(self.namespace, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            self.api.replace_namespaced_secret(self.name, self.namespace, body)


def issue_to_k8s(
    root: hvac.Client,
    objects: K8sObjects,
    specs: list[Any],
    ca_pem: str,
    *,
    namespaces: dict[str, str],
    ca_configmaps: list[str],
    ca_secrets: list[str],
    ca_name: str,
) -> None:
    """Issue ``specs`` as ``tls-<name>`` Secrets and publish the root CA (no key anywhere).

    Args:
        root: A client allowed to issue on the servers' roles.
        objects: Where to write (the Job's own API token).
        specs: The certificates (:class:`orders.deploy.tls.CertSpec`).
        ca_pem: The Vault root CA.
        namespaces: Certificate name -> namespace of its Secret (default: the Job's own).
        ca_configmaps: Namespaces that get the CA as ConfigMap ``ca_name`` (``ca.pem``).
        ca_secrets: Namespaces that get it as a Secret ``ca_name`` (``ca.crt``; ingress).
        ca_name: Name of those ConfigMaps and Secrets.
    """
    from orders.deploy import tls

    for ns in ca_configmaps:
        objects.apply_configmap(ns, ca_name, {tls.CA_FILE: ca_pem})
    for ns in ca_secrets:
        # ingress-nginx verifies upstreams against a Secret's ca.crt (the CA only).
        objects.apply_secret(ns, tls.ca_secret_body(ca_name, ca_pem))
    for spec in specs:
        cert = tls.issue(root, spec)
        ns = namespaces.get(spec.name, objects.namespace)
        objects.apply_secret(ns, tls.secret_body(spec.volume, cert))
        log.info("tls.server_cert.issued", cert=spec.name, serial=cert.serial, namespace=ns)


class K8sObjects:
    """Secrets and ConfigMaps written with the pod's own (projected) API token."""

    def __init__(self, api: Any, namespace: str) -> None:
        """Args: api: a ``kubernetes.client.CoreV1Api``; namespace: the pod's own."""
        self.api = api
        self.namespace = namespace

    @classmethod
    def in_cluster(cls) -> K8sObjects:
        """With this pod's API token, in this pod's namespace by default."""
        from kubernetes import client, config

        config.load_incluster_config()  # type: ignore[no-untyped-call]
        return cls(client.CoreV1Api(), SERVICE_ACCOUNT_NAMESPACE.read_text().strip())

    def apply_secret(self, namespace: str, body: dict[str, Any]) -> None:
        """Create the Secret, or replace it if it exists."""
        from kubernetes.client.exceptions import ApiException

        name = body["metadata"]["name"]
        try:
            self.api.create_namespaced_secret(namespace, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            self.api.replace_namespaced_secret(name, namespace, body)

    def create_secret(self, namespace: str, body: dict[str, Any]) -> bool:
        """Create the Secret unless it exists (then leave it as it is).

        Returns:
            Whether it was created.
        """
        from kubernetes.client.exceptions import ApiException

        try:
            self.api.create_namespaced_secret(namespace, body)
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def configmap_value(self, namespace: str, name: str | None, key: str) -> str | None:
        """One value of a ConfigMap, or None if there is no such map or key."""
        from kubernetes.client.exceptions import ApiException

        if name is None:
            return None
        try:
            cm = self.api.read_namespaced_config_map(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        value: str | None = (cm.data or {}).get(key)
        return value

    def apply_configmap(self, namespace: str, name: str, data: dict[str, str]) -> None:
        """Create the ConfigMap, or replace it if it exists."""
        from kubernetes.client.exceptions import ApiException

        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "hardened-orders"}},
            "data": data,
        }
        try:
            self.api.create_namespaced_config_map(namespace, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            self.api.replace_namespaced_config_map(name, namespace, body)


def k8s_bootstrap(
    objects: K8sObjects, secret: str, ca_configmap: str | None, ca_file: Path
) -> bool:
    """OpenBao's bootstrap certificate as the Secret ``secret``, unless it exists.

    The Secret is only ever *created* (never read: this step has no right to OpenBao's
    key); if it exists already (OpenBao serves it, or by now one from its PKI), the CA
    published before is used. The bootstrap CA goes to ``ca_file`` (for this pod's next
    container) and to the ConfigMap ``ca_configmap`` (for the other bootstrap-phase Jobs).

    Returns:
        Whether a bootstrap certificate was created.
    """
    from orders.deploy import tls
    from orders.devstack.tls import bootstrap_server_cert

    with tempfile.TemporaryDirectory() as tmp:
        cert, key, ca = Path(tmp, "c"), Path(tmp, "k"), Path(tmp, "ca")
        bootstrap_server_cert(cert, key, ca)
        body = tls.pem_secret_body(secret, cert.read_text(), key.read_text())
        ca_pem = ca.read_text()
    created = objects.create_secret(objects.namespace, body)
    if created:
        if ca_configmap:
            data = {tls.BOOTSTRAP_CA_FILE: ca_pem}
            objects.apply_configmap(objects.namespace, ca_configmap, data)
    else:
        published = objects.configmap_value(objects.namespace, ca_configmap, tls.BOOTSTRAP_CA_FILE)
        if published is None:
            return False
        ca_pem = published
    tls.write_ca(ca_file, ca_pem)
    return created


def publish_codec_client_id(root: hvac.Client, api: Any, namespace: str, name: str) -> None:
    """Put the codec server's OIDC client id in a ConfigMap its pods read (Kubernetes).

    The id is public (the tokens' audience, sent by every browser); OpenBao generates it,
    so only this step, after applying the provider, knows it.

    Args:
        root: A client allowed to read the provider's clients.
        api: A ``kubernetes.client.CoreV1Api`` (this Job's own API token).
        namespace: Namespace of the codec server.
        name: The ConfigMap (created, or its data replaced).
    """
    from kubernetes.client import V1ConfigMap, V1ObjectMeta
    from kubernetes.client.exceptions import ApiException

    from orders.deploy import people_auth
    from orders.vault import people as vault_people

    body = V1ConfigMap(
        metadata=V1ObjectMeta(name=name, labels={"app.kubernetes.io/part-of": "hardened-orders"}),
        data={
            people_auth.CODEC_CLIENT_ID_FILE: vault_people.client_id(
                root, vault_people.CODEC_CLIENT
            )
        },
    )
    try:
        api.create_namespaced_config_map(namespace, body)
    except ApiException as exc:
        if exc.status != 409:
            raise
        api.replace_namespaced_config_map(name, namespace, body)
    log.info("oidc.client_id_published", configmap=f"{namespace}/{name}")
