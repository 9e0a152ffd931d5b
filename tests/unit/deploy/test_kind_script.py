"""k8s/kind.sh (make kind-up/demo/down) fails early and clearly without docker or kind."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from orders.deploy.common import ROOT

SCRIPT = ROOT / "k8s" / "kind.sh"


def bin_dir(tmp_path: Path, *tools: str, fake_docker: bool = False) -> Path:
    """A PATH holding only ``tools`` (symlinked), and optionally a docker with no engine."""
    path = tmp_path / "bin"
    path.mkdir()
    for tool in tools:
        found = shutil.which(tool)
        assert found, tool
        (path / tool).symlink_to(found)
    if fake_docker:
        docker = path / "docker"
        docker.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
        docker.chmod(0o755)
    return path


def run(argv: list[str], path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=ROOT,
        env={"PATH": str(path), "HOME": str(path.parent)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("step", ["up", "demo", "down"])
def test_without_docker_it_says_so_and_exits_non_zero(tmp_path: Path, step: str) -> None:
    done = run(
        [shutil.which("bash") or "/bin/bash", str(SCRIPT), step], bin_dir(tmp_path, "dirname")
    )
    assert done.returncode == 3
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert "'docker' is not installed" in line
    assert "make demo" in line


def test_make_kind_up_without_an_engine_says_so(tmp_path: Path) -> None:
    path = bin_dir(tmp_path, "make", "bash", "env", "dirname", fake_docker=True)
    done = run(["make", "--no-print-directory", "kind-up"], path)
    assert done.returncode != 0
    assert "no Docker engine answers" in done.stderr
    assert "kind create" not in done.stdout + done.stderr


def test_without_kind_it_says_so(tmp_path: Path) -> None:
    path = bin_dir(tmp_path, "dirname")
    docker = path / "docker"
    docker.write_text("#!/bin/sh\nexit 0\n")  # an engine that answers
    docker.chmod(0o755)
    done = run([shutil.which("bash") or "/bin/bash", str(SCRIPT), "up"], path)
    assert done.returncode == 3
    assert "'kind' is not installed" in done.stderr
