"""The layout's rules, checked: what may import what, and how large a module may grow.

* The library (``orders``) never imports the application's workflows; the names both share
  live in :mod:`orders.contract.api`. Only the scaffold, which writes workflow code, may.
* Security code never imports the dev stack (it runs in every deployment).
* No hand-written module over 600 lines (migrations are generated history); README ≤ 250.
* Tests are laid out like the code: shared helpers in ``tests/support`` (no tests there), no
  test module importing another (or a conftest), and ``tests/unit`` starts no server: it
  neither imports the support modules that start one (Postgres, OpenBao, the Temporal dev
  server), nor asks for their fixtures, nor starts a dev server itself. Those tests are in
  ``tests/component``; the session stack's are in ``tests/integration``.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

import pytest

from tests.support.tiers import TIERS

ROOT: Final = Path(__file__).resolve().parents[2]
MAX_MODULE_LINES: Final = 600
MAX_README_LINES: Final = 250
MAY_IMPORT_WORKFLOWS: Final = ("orders/scaffold/",)
TESTS: Final = ROOT / "tests"
SERVER_SUPPORT: Final = ("tests.support.postgres", "tests.support.openbao", "tests.support.shop")
"""The support modules that start a server (each support module importing one does too)."""
STARTS_A_SERVER: Final = ("start_local", "start_time_skipping")
"""``WorkflowEnvironment`` calls that start a Temporal dev server."""
TEST_MODULE: Final = ("test_", "conftest")
"""Modules no other module imports: tests, and pytest's per-directory plugins."""


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


def _module_name(path: Path, root: Path = ROOT) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts)


def _imports_a_test_module(path: Path) -> list[str]:
    """The ``test_*`` and ``conftest`` modules ``path`` imports (by name or from a package)."""
    tree = ast.parse(path.read_text())
    named: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            named.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            named.append(node.module)
            named.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return sorted(
        {n for n in named if n.startswith("tests.") and n.split(".")[-1].startswith(TEST_MODULE)}
    )


def _server_support(tests: Path) -> set[str]:
    """:data:`SERVER_SUPPORT` and every support module that imports one of them (transitively)."""
    support = {_module_name(p, tests.parent): _imports(p) for p in (tests / "support").glob("*.py")}
    found = set(SERVER_SUPPORT)
    while grown := {m for m, imported in support.items() if imported & found} - found:
        found |= grown
    return found


def _server_fixtures(tests: Path) -> set[str]:
    """Fixtures defined in the server-starting support modules and the component conftests."""
    sources = [tests / "support" / f"{m.split('.')[-1]}.py" for m in _server_support(tests)]
    sources += sorted((tests / "component").rglob("conftest.py"))
    return {
        node.name
        for path in sources
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and any("fixture" in ast.unparse(d) for d in node.decorator_list)
    }


def _starts_servers(path: Path, servers: set[str], fixtures: set[str]) -> list[str]:
    """Why ``path`` (a unit test module) starts a server: imports, fixtures, dev-server calls."""
    tree = ast.parse(path.read_text())
    why = [f"imports {m}" for m in sorted(_imports(path) & servers)]
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            why += [f"{node.name} asks for {a.arg}" for a in args if a.arg in fixtures]
        elif isinstance(node, ast.Attribute) and node.attr in STARTS_A_SERVER:
            why.append(f"calls {node.attr} (line {node.lineno})")
    return why


def _tests(tests: Path, *under: str) -> list[Path]:
    return sorted(p for d in under or (".",) for p in (tests / d).rglob("*.py"))


def test_no_test_module_imports_another() -> None:
    offenders = {_rel(p): _imports_a_test_module(p) for p in _tests(TESTS)}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_unit_tests_start_no_server() -> None:
    servers, fixtures = _server_support(TESTS), _server_fixtures(TESTS)
    offenders = {_rel(p): _starts_servers(p, servers, fixtures) for p in _tests(TESTS, "unit")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_support_holds_no_tests() -> None:
    support = _tests(TESTS, "support")
    assert [_rel(p) for p in support if p.name.startswith(TEST_MODULE)] == []
    defined = {
        f"{_rel(p)}::{node.name}"
        for p in support
        for node in ast.parse(p.read_text()).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.name.lower().startswith("test")
    }
    assert defined == set()


def test_every_test_directory_is_a_tier() -> None:
    # The run order (tests/conftest.py) sorts by tier: a directory outside them would run
    # after the integration tests, unnoticed.
    tiers = set(TIERS)
    # artifacts/: screenshots the browser tests leave (git-ignored), not code.
    found = {
        p.name for p in TESTS.iterdir() if p.is_dir() and p.name not in {"__pycache__", "artifacts"}
    }
    assert found == tiers | {"support"}
    assert [_rel(p) for p in TESTS.glob("test_*.py")] == []


def test_the_test_layout_checks_catch_what_they_forbid(tmp_path: Path) -> None:
    # Control: each scan flags a module that does what it forbids (and the real tree has
    # the modules and fixtures the rules name).
    assert {"tests.support.activities", "tests.support.record_histories"} <= _server_support(TESTS)
    assert {"pg_cluster", "orders_db", "transits", "engines", "harness"} <= _server_fixtures(TESTS)
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from tests.unit.deploy.test_compose import COMPOSE\n"
        "from tests.integration import conftest\n"
        "from tests.support.postgres import OrdersDb\n"
        "from temporalio.testing import WorkflowEnvironment\n"
        "async def test_x(transits: object) -> None:\n"
        "    await WorkflowEnvironment.start_local()\n"
    )
    assert _imports_a_test_module(bad) == [
        "tests.integration.conftest",
        "tests.unit.deploy.test_compose",
    ]
    assert _starts_servers(bad, _server_support(TESTS), _server_fixtures(TESTS)) == [
        "imports tests.support.postgres",
        "test_x asks for transits",
        "calls start_local (line 6)",
    ]
