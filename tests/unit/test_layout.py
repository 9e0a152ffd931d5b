"""The layout's rules, checked: what may import what, and how large a module may grow.

* The library (``orders``) never imports the application's workflows; the names both share
  live in :mod:`orders.contract.api`. Only the scaffold, which writes workflow code, may.
* Security code never imports the dev stack (it runs in every deployment).
* No hand-written module over 600 lines (migrations are generated history); README ≤ 250.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parents[2]
MAX_MODULE_LINES: Final = 600
MAX_README_LINES: Final = 250
MAY_IMPORT_WORKFLOWS: Final = ("orders/scaffold/",)


def _modules(*packages: str) -> list[Path]:
    return sorted(
        p
        for package in packages
        for p in (ROOT / package).rglob("*.py")
        if "migrations" not in p.parts and ".venv" not in p.parts
    )


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_the_library_does_not_import_the_workflows() -> None:
    offenders = [
        _rel(p)
        for p in _modules("orders")
        if not _rel(p).startswith(MAY_IMPORT_WORKFLOWS)
        and any(m == "workflows" or m.startswith("workflows.") for m in _imports(p))
    ]
    assert offenders == []


def test_security_code_does_not_import_the_dev_stack() -> None:
    offenders = [
        _rel(p)
        for p in _modules("orders/security", "orders/contract", "orders/db")
        if any(m.startswith("orders.devstack") for m in _imports(p))
    ]
    assert offenders == []


@pytest.mark.parametrize("path", _modules("orders", "workflows", "activities", "workers"), ids=_rel)
def test_no_module_is_too_large_to_read(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_MODULE_LINES


def test_the_readme_reads_in_one_sitting() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= MAX_README_LINES


def test_the_checks_see_the_code() -> None:
    # Control: the scans find the modules and their imports at all.
    assert len(_modules("orders")) > 50
    assert "orders.contract" in _imports(ROOT / "orders" / "client.py")
