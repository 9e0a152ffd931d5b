"""``orders new``: refusals change nothing; the plan writes only new files and marked edits."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import typer

from orders.db.grants import grant_of, require_group, revoke_of
from orders.db.migrate import head_revision
from orders.scaffold import generate
from orders.scaffold.cli import new_activity
from orders.scaffold.generate import ScaffoldError, plan_activity, plan_workflow
from orders.scaffold.tables import parse_tables

NEW_REVISION = f"{int(head_revision()) + 1:04d}"
"""The grant migration ``orders new activity`` appends after the tree's newest one."""

ROOT = generate.ROOT


def _files(root: Path) -> dict[Path, str]:
    return {p: p.read_text() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """The files a plan edits, and the migrations, in a scratch root."""
    for rel in (generate.IDENTITIES, generate.ACTIVITIES_INIT, generate.WORKFLOWS_INIT):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    shutil.copytree(
        ROOT / generate.MIGRATIONS,
        tmp_path / generate.MIGRATIONS,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return tmp_path


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Bad-Name", "bad activity name"),
        ("two--hyphens", "bad activity name"),
        ("ab", "3 to 40 characters"),
        ("x" * 41, "3 to 40 characters"),
        ("order-notify", "identity 'order-notify' already exists"),
        ("codec-server", "already exists"),
        ("transit-mount", "already defines TRANSIT_MOUNT"),
        ("notify-customer", "already defines NOTIFY_CUSTOMER"),
    ],
)
def test_bad_or_colliding_activity_names_are_refused(name: str, message: str) -> None:
    with pytest.raises(ScaffoldError, match=message):
        plan_activity(name, ())


def test_workflow_names() -> None:
    with pytest.raises(ScaffoldError, match="identity 'order-workflow' already exists"):
        plan_workflow("order")
    with pytest.raises(ScaffoldError, match="no workflow identity 'nope-workflow'"):
        plan_activity("record-it", (), workflow="nope")
    with pytest.raises(ScaffoldError, match="OrderWorkflow is written by hand"):
        plan_activity("record-it", (), workflow="order")
    with pytest.raises(ScaffoldError, match="Python keyword"):
        plan_workflow("class")


def test_an_existing_file_is_never_overwritten_and_nothing_is_written(tree: Path) -> None:
    (tree / "activities" / "record_it.py").write_text("# mine\n")
    before = _files(tree)
    plan = plan_activity("record-it", parse_tables("shipments:SELECT"), root=tree)
    with pytest.raises(ScaffoldError, match=r"activities/record_it\.py already exists"):
        plan.apply()
    assert _files(tree) == before


def test_a_missing_marker_is_refused(tree: Path) -> None:
    init = tree / generate.ACTIVITIES_INIT
    init.write_text(init.read_text().replace(generate.MARK_ACT_CLASS + "\n", ""))
    before = _files(tree)
    with pytest.raises(ScaffoldError, match="marker line"):
        plan_activity("record-it", (), root=tree).apply()
    assert _files(tree) == before


def test_plan_writes_new_files_and_edits_at_the_markers(tree: Path) -> None:
    written = plan_activity("record-it", parse_tables("shipments:SELECT"), root=tree).apply()
    assert set(written) == {
        generate.IDENTITIES,
        generate.ACTIVITIES_INIT,
        Path("activities/record_it.py"),
        Path("tests/component/activities/test_record_it.py"),
        generate.MIGRATIONS / f"{NEW_REVISION}_record_it_grants.py",
    }
    contract = (tree / generate.IDENTITIES).read_text()
    assert 'RECORD_IT = Identity(\n    "record-it",' in contract
    assert f"    RECORD_IT,\n{generate.MARK_ALL}" in contract
    migration = (tree / generate.MIGRATIONS / f"{NEW_REVISION}_record_it_grants.py").read_text()
    assert '"GRANT SELECT ON TABLE orders.shipments TO grp_record_it",' in migration
    assert f'down_revision: str | None = "{head_revision()}"' in migration


def test_cli_refuses_with_exit_2_and_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as exited:
        new_activity("record-it", tables="nope:SELECT", workflow_name=None, summary=None)
    assert exited.value.exit_code == 2
    assert "unknown table 'nope'" in capsys.readouterr().err


def test_revoke_undoes_a_grant_and_refuses_anything_else() -> None:
    grant = "GRANT SELECT (id, status) ON TABLE orders.orders TO grp_x"
    assert revoke_of(grant) == "REVOKE SELECT (id, status) ON TABLE orders.orders FROM grp_x"
    with pytest.raises(ValueError, match="not a plain GRANT"):
        revoke_of("GRANT grp_x TO someone_else")
    assert "'grp_x'" in require_group("grp_x")


def test_grant_of_undoes_a_table_wide_revoke_only() -> None:
    revoke = "REVOKE SELECT, UPDATE ON TABLE orders.inventory FROM grp_x"
    assert grant_of(revoke) == "GRANT SELECT, UPDATE ON TABLE orders.inventory TO grp_x"
    # A table-wide REVOKE also drops column grants: a column one is not undone this way.
    with pytest.raises(ValueError, match="table-wide REVOKE"):
        grant_of("REVOKE SELECT (id) ON TABLE orders.orders FROM grp_x")
