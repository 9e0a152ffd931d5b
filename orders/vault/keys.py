"""Transit key lifecycle: rotate, rewrap stored data keys, raise the minimum version.

Rotation makes new data keys and sealed fields use the new key version; old histories
still decode because Vault keeps the old versions. ``rewrap`` re-encrypts the *wrapped
data keys* in an exported history under the newest version inside Vault — payload
ciphertext is untouched and no plaintext ever leaves Vault. Once everything that must
stay readable is rewrapped, ``min_decryption_version`` can be raised so the old versions
can no longer decrypt anything.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import hvac

from orders.contract import transit_names
from orders.security.codec import ENCODING, META_ENCODING, META_KEY, META_VERSION, META_WRAPPED
from orders.security.transit import key_version


def all_keys() -> list[str]:
    """Every Transit key the project uses."""
    return [transit_names.PAYLOAD_KEY, *(s.key for s in transit_names.SEALED_FIELDS)]


def rotate(client: hvac.Client, keys: list[str] | None = None) -> dict[str, int]:
    """Rotate keys; returns each key's new latest version."""
    versions = {}
    for key in keys or all_keys():
        client.write_data(f"{transit_names.TRANSIT_MOUNT}/keys/{key}/rotate", data={})
        versions[key] = int(
            client.read(f"{transit_names.TRANSIT_MOUNT}/keys/{key}")["data"]["latest_version"]
        )
    return versions


def set_min_decryption_version(client: hvac.Client, key: str, version: int) -> None:
    """Refuse decryption with versions below ``version``."""
    client.write_data(
        f"{transit_names.TRANSIT_MOUNT}/keys/{key}/config",
        data={"min_decryption_version": version},
    )


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


def _payloads(node: Any) -> list[dict[str, Any]]:
    """Every payload object (``{"metadata": {...}, "data": ...}``) in exported JSON."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        meta = node.get("metadata")
        if isinstance(meta, dict) and "data" in node and META_ENCODING in meta:
            found.append(node)
        for value in node.values():
            found.extend(_payloads(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_payloads(value))
    return found


def rewrap_history(client: hvac.Client, history: dict[str, Any]) -> dict[str, int]:
    """Rewrap the data keys of an exported history (as ``temporal workflow show -o json``).

    Modifies ``history`` in place. Each distinct wrapped key is rewrapped once.

    Returns:
        Counts: payloads seen, encrypted payloads, data keys rewrapped.
    """
    cache: dict[str, str] = {}
    payloads = _payloads(history)
    encrypted = 0
    for payload in payloads:
        meta = payload["metadata"]
        if _b64(meta[META_ENCODING]) != ENCODING:
            continue
        encrypted += 1
        key = _b64(meta[META_KEY]).decode()
        wrapped = _b64(meta[META_WRAPPED]).decode()
        if wrapped not in cache:
            resp = client.write_data(
                f"{transit_names.TRANSIT_MOUNT}/rewrap/{key}", data={"ciphertext": wrapped}
            )
            cache[wrapped] = resp["data"]["ciphertext"]
        new = cache[wrapped]
        meta[META_WRAPPED] = base64.b64encode(new.encode()).decode()
        meta[META_VERSION] = base64.b64encode(str(key_version(new)).encode()).decode()
    return {"payloads": len(payloads), "encrypted": encrypted, "rewrapped_keys": len(cache)}


def history_key_versions(history: dict[str, Any]) -> set[int]:
    """Key versions used by the encrypted payloads of an exported history."""
    return {
        int(_b64(p["metadata"][META_VERSION]).decode())
        for p in _payloads(history)
        if _b64(p["metadata"][META_ENCODING]) == ENCODING
    }


def load(path: str) -> dict[str, Any]:
    """Read an exported history."""
    with open(path) as fh:
        data: dict[str, Any] = json.load(fh)
    return data
