"""KEDA's Vault side, as its ``hashiCorpVault`` resolver does it, for tests on real servers.

:func:`resolve` reads the rendered TriggerAuthentication (``k8s/overlays/keda``) and fetches
its secrets the way KEDA's resolver does (``pkg/scaling/resolver/hashicorpvault_handler.go``):
secrets grouped by (path, type, pkiData), one Vault call per group — ``pki``: a write with
the snake-cased ``pkiData``; ``secret``: a read — then the key of the answer per parameter,
``ca_chain`` joined by newlines. So the tests exercise the overlay's own paths and keys.

:func:`scaler_login` stands in for the one step no stack here can make: KEDA's Kubernetes-auth
login as ``keda/keda-operator`` (the dev stack's identity endpoint serves the ``orders``
namespace only). It gives a token exactly what that login gives: the ``keda-scaler`` policy,
no ``default``, and an entity (OpenBao signs identity tokens only for one).
"""

from __future__ import annotations

from typing import Any, Final

import hvac

from orders.contract import keda
from orders.deploy import overlays

LOGIN_ROLE: Final = "keda-scaler-test-login"
"""Token role (and entity alias) the test login is created through."""
PKI_DATA_FIELDS: Final = {
    "commonName": "common_name",
    "altNames": "alt_names",
    "ipSans": "ip_sans",
    "uriSans": "uri_sans",
    "otherSans": "other_sans",
    "ttl": "ttl",
    "format": "format",
}
"""KEDA's ``pkiData`` field -> the PKI API's parameter (KEDA ≥ 2.18 maps them so)."""


def scaler_login(root: hvac.Client, verify: str | bool = True) -> hvac.Client:
    """A client holding what KEDA's operator login holds: the ``keda-scaler`` policy only."""
    root.write_data(
        f"auth/token/roles/{LOGIN_ROLE}",
        data={
            "allowed_policies": [keda.PRINCIPAL],
            "disallowed_policies": ["root"],
            "allowed_entity_aliases": [LOGIN_ROLE],
            "orphan": True,
            "token_ttl": 300,
            "token_explicit_max_ttl": 300,
            "token_no_default_policy": True,
        },
    )
    created = root.write_data(
        f"auth/token/create/{LOGIN_ROLE}",
        data={"policies": [keda.PRINCIPAL], "entity_alias": LOGIN_ROLE, "no_default_policy": True},
    )
    return hvac.Client(url=root.url, token=created["auth"]["client_token"], verify=verify)


def _group(secret: dict[str, Any]) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    return (
        secret["path"],
        secret.get("type", ""),
        tuple(sorted(secret.get("pkiData", {}).items())),
    )


def resolve(client: hvac.Client, auth: dict[str, Any] | None = None) -> dict[str, str]:
    """TriggerAuthentication parameter -> value, fetched as KEDA fetches them.

    Args:
        client: The scaler's Vault login.
        auth: The TriggerAuthentication (default: the overlay's, as rendered).

    Raises:
        hvac.exceptions.VaultError: Vault refused a fetch (KEDA would leave it empty).
    """
    auth = auth or overlays.trigger_authentication()
    secrets = auth["spec"]["hashiCorpVault"]["secrets"]
    answers: dict[tuple[str, str, tuple[tuple[str, str], ...]], dict[str, Any]] = {}
    for secret in secrets:
        group = _group(secret)
        if group in answers:
            continue
        if secret.get("type") == "pki":
            data = {PKI_DATA_FIELDS[k]: v for k, v in secret.get("pkiData", {}).items()}
            answers[group] = client.write_data(secret["path"], data=data)["data"]
        else:
            answers[group] = client.read(secret["path"])["data"]
    values: dict[str, str] = {}
    for secret in secrets:
        value = answers[_group(secret)][secret["key"]]
        values[secret["parameter"]] = "\n".join(value) if isinstance(value, list) else str(value)
    return values


def certificates_only(pem: str) -> str:
    """The CERTIFICATE blocks of ``pem``, as Go's ``tls.X509KeyPair`` keeps them (KEDA's)."""
    blocks, current = [], []
    for line in pem.splitlines():
        if line.startswith("-----BEGIN "):
            current = [line]
        elif current:
            current.append(line)
            if line.startswith("-----END "):
                if current[0] == "-----BEGIN CERTIFICATE-----":
                    blocks.append("\n".join(current))
                current = []
    return "\n".join(blocks) + "\n"
