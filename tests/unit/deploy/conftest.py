"""Fixtures of the offline deployment checks: the rendered kind overlay and the tools.

The tools (checkov, hadolint, kubernetes-validate, check-jsonschema) come from their own
virtualenv, made by ``make tools``; ``make test`` points ``ORDERS_TOOLS_BIN`` at it and sets
``ORDERS_REQUIRE_DEPLOY_TOOLS=1``, so there a missing tool fails instead of skipping.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from orders.deploy.common import ROOT
from tests.support.deploy import kustomize


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
