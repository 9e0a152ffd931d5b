"""``orders new activity|workflow``: add an identity to the contract and render the rest.

A run first plans every change and checks all of it (names, collisions, tables, markers,
files that must not exist yet); only then does it write, so a refused run changes nothing.
It edits the contract and the two registries at their marked lines, writes the genuinely
new code (activity or workflow module, unit test, grant migration) from
:mod:`orders.scaffold.templates`, and then, in a fresh interpreter that imports the edited
contract, renders the Vault policy and the manifests with the project's own renderers
(:mod:`orders.scaffold.sync`). Vault roles need no file: ``orders vault apply`` derives
them from the contract.
"""

from __future__ import annotations

import keyword
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from orders.contract import (
    api,
    approval_policy,
    identities,
    pki_names,
    temporal_access,
    transit_names,
)
from orders.contract.identities import Identity, Kind, TableGrant
from orders.scaffold import templates
from orders.scaffold.tables import grant_source, grant_statements

ROOT: Final = Path(__file__).resolve().parents[2]
"""The project this code belongs to (a copy scaffolds into itself)."""

NAME: Final = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
MIN_LEN, MAX_LEN = 3, 40
"""Bounds of an identity name: ``v-<name>-<10 digits>-<8>`` must fit Postgres' 63 bytes."""
WORKFLOW_SUFFIX: Final = "-workflow"

IDENTITIES: Final = Path("orders/contract/identities.py")
ACTIVITIES_INIT: Final = Path("activities/__init__.py")
WORKFLOWS_INIT: Final = Path("workflows/__init__.py")
MIGRATIONS: Final = Path("orders/db/migrations/versions")
MARK_IDENTITY: Final = "# `orders new activity|workflow` inserts new identities above this line."
MARK_ALL: Final = "    # `orders new activity|workflow` appends new identities above this line."
MARK_ACT_IMPORT: Final = "# `orders new activity` inserts imports above this line."
MARK_ACT_CLASS: Final = "        # `orders new activity` inserts classes above this line."
MARK_WF_IMPORT: Final = "# `orders new workflow` inserts imports above this line."
MARK_WF_ENTRY: Final = "    # `orders new workflow` inserts entries above this line."


class ScaffoldError(ValueError):
    """A refused ``orders new``: the message says what and why; nothing was written."""


@dataclass
class Plan:
    """Everything one run will write.

    Attributes:
        root: Project root.
        new_files: Path (relative) -> content of files that must not exist yet.
        inserts: Path (relative) -> [(marker, text inserted above it)].
    """

    root: Path
    new_files: dict[Path, str] = field(default_factory=dict)
    inserts: dict[Path, list[tuple[str, str]]] = field(default_factory=dict)

    def insert(self, path: Path, marker: str, text: str) -> None:
        """Plan inserting ``text`` just above the line ``marker`` of ``path``."""
        self.inserts.setdefault(path, []).append((marker, text))

    def check(self) -> None:
        """Refuse existing target files and missing markers (before anything is written)."""
        for path in self.new_files:
            if (self.root / path).exists():
                raise ScaffoldError(f"{path} already exists; orders new never overwrites a file")
        for path, edits in self.inserts.items():
            text = (self.root / path).read_text()
            for marker, _ in edits:
                if text.count(marker + "\n") != 1:
                    raise ScaffoldError(f"{path}: the marker line {marker.strip()!r} is missing")

    def apply(self) -> list[Path]:
        """Write the plan; returns the files written or edited."""
        self.check()
        for path, content in self.new_files.items():
            target = self.root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("x") as fh:  # "x": never overwrite, even in a race
                fh.write(content)
        for path, edits in self.inserts.items():
            target = self.root / path
            text = target.read_text()
            for marker, addition in edits:
                text = text.replace(marker + "\n", addition + marker + "\n", 1)
            target.write_text(text)
        return [*self.new_files, *self.inserts]


def check_name(name: str, what: str) -> None:
    """Refuse a name that cannot be an identity name everywhere it is used.

    Raises:
        ScaffoldError: Naming the rule broken.
    """
    if not NAME.fullmatch(name):
        raise ScaffoldError(
            f"bad {what} name {name!r}: use lowercase letters, digits and single hyphens, "
            "starting with a letter (e.g. record-return)"
        )
    if not MIN_LEN <= len(name) <= MAX_LEN:
        raise ScaffoldError(f"bad {what} name {name!r}: {MIN_LEN} to {MAX_LEN} characters")
    if keyword.iskeyword(snake(name)):
        raise ScaffoldError(f"bad {what} name {name!r}: {snake(name)!r} is a Python keyword")


def snake(name: str) -> str:
    """``record-return`` -> ``record_return``."""
    return name.replace("-", "_")


CONTRACT_MODULES: Final = (
    identities,
    transit_names,
    approval_policy,
    temporal_access,
    api,
    pki_names,
)
"""Every module of the contract: a new identity's constants must collide with none."""


def camel(name: str) -> str:
    """``record-return`` -> ``RecordReturn``."""
    return "".join(part.capitalize() for part in name.split("-"))


def _refuse_collision(name: str, *constants: str) -> None:
    if name in identities.BY_NAME:
        raise ScaffoldError(f"identity {name!r} already exists in orders/contract/identities.py")
    group = Identity(name, Kind.ACTIVITY).db_group
    if any(i.db_group == group for i in identities.ALL):
        raise ScaffoldError(f"Postgres group {group!r} is already used by another identity")
    for const in constants:
        for module in CONTRACT_MODULES:
            if hasattr(module, const):
                raise ScaffoldError(f"{module.__name__} already defines {const}")


def workflow_identity_name(name: str) -> str:
    """``returns`` or ``returns-workflow`` -> ``returns-workflow``."""
    return name if name.endswith(WORKFLOW_SUFFIX) else name + WORKFLOW_SUFFIX


def _next_revision(root: Path) -> tuple[str, str]:
    """(new revision, current head) from the numbered migration files."""
    numbers = sorted(
        int(m.group(1))
        for p in (root / MIGRATIONS).glob("*.py")
        if (m := re.match(r"(\d{4})_", p.name))
    )
    if not numbers:
        raise ScaffoldError(f"no numbered migrations under {MIGRATIONS}")
    return f"{numbers[-1] + 1:04d}", f"{numbers[-1]:04d}"


def _grants_doc(grants: tuple[TableGrant, ...]) -> str:
    if not grants:
        return "* no database role at all (its Vault policy denies ``database/*``)."
    lines = []
    for g in grants:
        parts = sorted(g.privileges) + [f"{p}({', '.join(c)})" for p, c in g.columns]
        lines.append(f"* ``{g.table}``: {', '.join(parts)}")
    return "\n".join(lines)


def plan_activity(
    name: str,
    grants: tuple[TableGrant, ...],
    *,
    workflow: str | None = None,
    summary: str | None = None,
    root: Path = ROOT,
) -> Plan:
    """Plan ``orders new activity``.

    Args:
        name: The new identity's name (also its activity's name, with underscores).
        grants: Its Postgres grants (parsed ``--tables``); empty for no database role.
        workflow: A workflow made by ``orders new workflow`` that runs it as a step.
        summary: One line for docs; a default is derived from the name.
        root: Project root to write into.

    Raises:
        ScaffoldError: Bad name, collision, unknown workflow, or a file that exists.
    """
    check_name(name, "activity")
    const, act = snake(name).upper(), snake(name)
    act_const = f"{const}_ACTIVITY"
    _refuse_collision(name, const, act_const)
    if any(act in i.activities for i in identities.ALL):
        raise ScaffoldError(f"activity {act!r} already exists in orders/contract/identities.py")
    workflow_line = ""
    if workflow is not None:
        wf_name = workflow_identity_name(workflow)
        wf = identities.BY_NAME.get(wf_name)
        if wf is None or wf.kind is not Kind.WORKFLOW:
            raise ScaffoldError(
                f"--workflow {workflow!r}: no workflow identity {wf_name!r} "
                f"(create it with `orders new workflow {workflow}`)"
            )
        if wf is identities.ORDER_WORKFLOW:
            raise ScaffoldError(
                "--workflow: OrderWorkflow is written by hand; schedule the activity there "
                "yourself, or give a workflow made by `orders new workflow`"
            )
        workflow_line = f'\n    workflow="{wf.name}",'
    summary = summary or f"the {name.replace('-', ' ')} step"
    if '"' in summary or "\\" in summary or "\n" in summary:
        raise ScaffoldError("--summary: no quotes, backslashes or line breaks")
    fields = {
        "name": name,
        "const": const,
        "act": act,
        "act_const": act_const,
        "cls": camel(name),
        "module": act,
        "summary": summary,
        "summary_cap": summary[:1].upper() + summary[1:],
        "workflow": workflow_line,
        "grants": "".join(f"\n        {grant_source(g)}," for g in grants)
        + ("\n    " if grants else ""),
        "grants_doc": _grants_doc(grants),
    }
    plan = Plan(root)
    plan.insert(IDENTITIES, MARK_IDENTITY, templates.IDENTITY_ACTIVITY.format(**fields) + "\n")
    plan.insert(IDENTITIES, MARK_ALL, f"    {const},\n")
    plan.insert(ACTIVITIES_INIT, MARK_ACT_IMPORT, f"from activities.{act} import {camel(name)}\n")
    plan.insert(ACTIVITIES_INIT, MARK_ACT_CLASS, f"        {camel(name)},\n")
    plan.new_files[Path("activities") / f"{act}.py"] = templates.ACTIVITY_MODULE.format(**fields)
    plan.new_files[Path("tests/component/activities") / f"test_{act}.py"] = (
        templates.ACTIVITY_TEST.format(**fields)
    )
    if grants:
        revision, head = _next_revision(root)
        group = Identity(name, Kind.ACTIVITY).db_group
        plan.new_files[MIGRATIONS / f"{revision}_{act}_grants.py"] = templates.MIGRATION.format(
            name=name,
            revision=revision,
            down_revision=head,
            group=group,
            grant_lines="".join(f'    "{s}",\n' for s in grant_statements(group, grants)).rstrip(
                "\n"
            ),
        )
    return plan


def plan_workflow(name: str, *, root: Path = ROOT) -> Plan:
    """Plan ``orders new workflow``: identity ``<name>-workflow`` running ``<Name>Workflow``.

    Raises:
        ScaffoldError: Bad name, collision, or a file that exists.
    """
    ident = workflow_identity_name(name)
    base = ident.removesuffix(WORKFLOW_SUFFIX)
    check_name(base, "workflow")
    check_name(ident, "workflow identity")
    const = snake(ident).upper()
    _refuse_collision(ident, const)
    cls = camel(base) + "Workflow"
    fields = {"name": ident, "base": base, "const": const, "cls": cls}
    plan = Plan(root)
    plan.insert(IDENTITIES, MARK_IDENTITY, templates.IDENTITY_WORKFLOW.format(**fields) + "\n")
    plan.insert(IDENTITIES, MARK_ALL, f"    {const},\n")
    plan.insert(WORKFLOWS_INIT, MARK_WF_IMPORT, f"from workflows.{snake(base)} import {cls}\n")
    plan.insert(WORKFLOWS_INIT, MARK_WF_ENTRY, f"    identities.{const}.name: ({cls},),\n")
    plan.new_files[Path("workflows") / f"{snake(base)}.py"] = templates.WORKFLOW_MODULE.format(
        **fields
    )
    return plan


def tidy(paths: list[Path], root: Path = ROOT) -> None:
    """Sort imports and format the Python files written or edited, as ``make fmt`` would.

    Raises:
        ScaffoldError: If ruff fails (its output says why).
    """
    files = [str(p) for p in paths if p.suffix == ".py"]
    for args in (["check", "--fix", "--select", "I", "--quiet"], ["format", "--quiet"]):
        proc = subprocess.run(
            [sys.executable, "-m", "ruff", *args, *files],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise ScaffoldError(f"ruff {args[0]} failed:\n{proc.stdout}{proc.stderr}")


def render_derived(root: Path = ROOT) -> str:
    """Render policies and manifests from the (edited) contract, in a fresh interpreter.

    Returns:
        What the renderer printed.

    Raises:
        ScaffoldError: If rendering failed (its output says why).
    """
    path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    proc = subprocess.run(
        [sys.executable, "-m", "orders.scaffold.sync"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise ScaffoldError(f"rendering from the contract failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout
