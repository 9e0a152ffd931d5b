"""docs/build-your-own-workflow.md end to end: scaffold a copy, run it on the real stack.

The commands and the hand-written activity come from the page itself, so the walkthrough
cannot drift from what is tested. The committed tree is copied into a temporary git
repository; ``orders new`` runs there (its code, its contract). Then, against the session
stack, the copy's ``orders dev apply`` bootstraps the new group role, applies its
``vault/`` and runs its migration as ``order-migrate``; the copy's workers for the new
identities run one returns workflow for a real order. Postgres must show the row written by
a Vault-issued ``v-return-receive-…`` user of ``grp_return_receive``, and refuse that
identity everything ``--tables`` did not grant. Afterwards the stack is put back as the
main tree's contract describes it (the session teardown still counts 0 dynamic roles).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import hvac
import pytest
from temporalio.client import Client

from orders.contract import identities
from orders.contract.identities import Identity, Kind
from orders.db.migrate import head_revision
from orders.devstack.live import worker_settings
from orders.devstack.servers import FRONT_RULES
from orders.devstack.state import PROJECT_ROOT, StackInfo, StackPaths
from orders.evidence import GROUPS_OF_SQL
from orders.front import rules as front_rules
from orders.models import Outcome
from orders.scaffold import parse_tables
from orders.security.k8s_token import TokenProjector, read_token
from orders.verify.pg import allowed, probes
from tests.support import stack as support
from tests.support.stack import TEST_HOME

pytestmark = pytest.mark.integration

DOC: Final = PROJECT_ROOT / "docs" / "build-your-own-workflow.md"
WORKFLOW: Final = "returns-workflow"
ACTIVITY: Final = "return-receive"
GROUP: Final = "grp_return_receive"
HEAD_BEFORE: Final = head_revision()
NEW_REVISION: Final = f"{int(HEAD_BEFORE) + 1:04d}"
"""The grant migration ``orders new activity`` appends after the tree's newest one."""
SCAFFOLDED: Final = {
    "orders/contract/identities.py",
    "activities/__init__.py",
    "activities/return_receive.py",
    "tests/component/activities/test_return_receive.py",
    "workflows/__init__.py",
    "workflows/returns.py",
    f"orders/db/migrations/versions/{NEW_REVISION}_return_receive_grants.py",
    "vault/policies/return-receive.hcl",
    "vault/policies/returns-workflow.hcl",
    "k8s/base/kustomization.yaml",
    "docker-compose.yml",
    "orders/front/rules.json",
    # Overlays rendered from the contract: who may reach OpenBao/Postgres, the KEDA scalers,
    # the production overlay's egress policies.
    "k8s/overlays/kind/infra/networkpolicies/openbao-allow.yaml",
    "k8s/overlays/kind/infra/networkpolicies/postgres-allow.yaml",
    "k8s/overlays/keda/kustomization.yaml",
    *(f"k8s/overlays/keda/scaledobject-{name}.yaml" for name in (WORKFLOW, ACTIVITY)),
    *(
        f"k8s/overlays/external/networkpolicy-external-{peer}.yaml"
        for peer in ("postgres", "temporal", "vault")
    ),
    *(
        f"k8s/base/{name}/{kind}.yaml"
        for name in (WORKFLOW, ACTIVITY)
        for kind in ("serviceaccount", "deployment", "networkpolicy", "poddisruptionbudget")
    ),
    # Observability: Prometheus scrapes each new worker, each sends the collector its traces.
    "docker-compose.observability.yml",
    "deploy/observability/prometheus.yml",
    "k8s/overlays/kind/observability/files/prometheus.yml",
    "k8s/overlays/kind/observability/kustomization.yaml",
    "k8s/overlays/kind/observability/networkpolicy-collector.yaml",
    "k8s/overlays/kind/observability/networkpolicy-prometheus.yaml",
    *(
        f"k8s/overlays/kind/observability/{name}-metrics-service.yaml"
        for name in (WORKFLOW, ACTIVITY)
    ),
    *(
        f"k8s/overlays/kind/observability/{path}-{name}.yaml"
        for name in (WORKFLOW, ACTIVITY)
        for path in ("networkpolicy-app", "patches/env")
    ),
}
"""Every file ``orders new`` may write or edit for the page's two commands; nothing else."""
COPY_UNIT_TESTS: Final = (
    "tests/unit/test_vault_config.py",
    "tests/unit/test_identities.py",
    "tests/unit/db/test_migration_grants.py",
    "tests/unit/deploy/test_render.py",
    "tests/unit/front/test_rules.py",
    "tests/component/activities/test_return_receive.py",
)
"""The copy's contract-driven unit tests, and the generated one (with the hand edit)."""


def doc_block(tag: str) -> str:
    """The fenced code block under ``<!-- test: tag -->`` in the page."""
    match = re.search(rf"<!-- test: {tag} -->\n```\w+\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert match, f"no '{tag}' block in {DOC.name}"
    return match.group(1)


def doc_commands(tag: str) -> list[list[str]]:
    """Shell lines of a block: continuations joined, comments and a trailing ``&`` dropped."""
    lines = doc_block(tag).replace("\\\n", " ").splitlines()
    commands = [shlex.split(line, comments=True) for line in lines if line.strip()]
    return [argv[:-1] if argv[-1] == "&" else argv for argv in commands]


def in_copy(root: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run an ``orders`` command with the copy's code, against the session stack."""
    assert argv[0] == "orders", argv
    return subprocess.run(
        [sys.executable, "-m", "orders", *argv[1:]],
        cwd=root,
        env=copy_env(root),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def copy_env(root: Path, **extra: str) -> dict[str, str]:
    """Environment of a process of the copy: its code first, the session stack's home."""
    return {**os.environ, "PYTHONPATH": str(root), "ORDERS_HOME": str(TEST_HOME), **extra}


def spawn(root: Path, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a long-running ``orders`` command of the copy, its output into ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "orders", *argv[1:]],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def git(root: Path, *args: str) -> str:
    """Run git in the copy; returns stdout."""
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def changed(root: Path) -> set[str]:
    """Paths ``git status`` reports (untracked files listed one by one)."""
    out = git(root, "status", "--porcelain", "--untracked-files=all")
    return {line[3:] for line in out.splitlines()}


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed tree (``git ls-files``) in a fresh git repository."""
    root = tmp_path_factory.mktemp("scaffold") / "project"
    listed = subprocess.run(
        ["git", "ls-files", "-z"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = PROJECT_ROOT / rel
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            # orders/vault_hcl -> ../vault: the copy's policies must be its own vault/.
            (root / rel).symlink_to(src.readlink())
        elif src.is_file():
            shutil.copy2(src, root / rel)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    return root


@pytest.fixture(scope="module")
def scaffolded(project_copy: Path) -> Path:
    """The copy after the page's ``orders new`` commands, committed, then hand-edited."""
    for argv in doc_commands("scaffold"):
        result = in_copy(project_copy, argv)
        assert result.returncode == 0, result.stdout + result.stderr
    got = changed(project_copy)
    assert got == SCAFFOLDED, "\n".join(
        ["unexpected:", *sorted(got - SCAFFOLDED), "missing:", *sorted(SCAFFOLDED - got)]
    )
    git(project_copy, "add", "-A")
    git(project_copy, "commit", "-qm", "scaffold")
    (project_copy / "activities/return_receive.py").write_text(doc_block("activity"))
    return project_copy


@pytest.fixture(scope="module")
def copy_tests(scaffolded: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CopyRun]:
    """The copy's unit tests, started at once: they run while the stack test runs."""
    out = tmp_path_factory.mktemp("copy-tests") / "pytest.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-qrA", "-p", "no:cacheprovider", *COPY_UNIT_TESTS],
            cwd=scaffolded,
            env=copy_env(scaffolded),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    yield CopyRun(proc, out)
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@dataclass(frozen=True)
class CopyRun:
    """A running pytest of the copy and the file its output goes to."""

    proc: subprocess.Popen[bytes]
    out: Path


def test_only_the_activity_logic_is_edited_by_hand(scaffolded: Path) -> None:
    assert changed(scaffolded) == {"activities/return_receive.py"}
    # Scaffolding twice is refused, names the culprit, and writes nothing.
    (argv,) = (a for a in doc_commands("scaffold") if a[:3] == ["orders", "new", "activity"])
    again = in_copy(scaffolded, argv)
    assert again.returncode == 2
    assert "identity 'return-receive' already exists" in again.stderr.replace("\n", " ")
    assert changed(scaffolded) == {"activities/return_receive.py"}


def new_identity() -> Identity:
    """``return-receive`` as the copy's contract states it (the page's ``--tables``)."""
    (argv,) = (a for a in doc_commands("scaffold") if a[:3] == ["orders", "new", "activity"])
    return Identity(ACTIVITY, Kind.ACTIVITY, grants=parse_tables(argv[argv.index("--tables") + 1]))


def projected_token(stack: StackInfo, paths: StackPaths, identity: Identity) -> str:
    """A projected token of a new identity, via TokenRequest as its worker gets one."""
    settings = worker_settings(stack, paths, identity)
    TokenProjector.from_settings(settings, identity).refresh()
    return read_token(settings.token_file)


async def new_roles(stack: StackInfo) -> list[str]:
    """Dynamic Postgres roles of the new identity."""
    return [r for r in await support.dynamic_roles(stack) if r.startswith(f"v-{ACTIVITY}-")]


@pytest.fixture
async def live(
    scaffolded: Path, stack: StackInfo, stack_paths: StackPaths, tmp_path: Path
) -> AsyncIterator[Path]:
    """``orders dev apply`` and the page's two workers (the copy's code), all undone after."""
    applied = await asyncio.to_thread(in_copy, scaffolded, ["orders", "dev", "apply"])
    assert applied.returncode == 0, applied.stdout + applied.stderr
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for argv in doc_commands("live"):
            if argv[:3] == ["orders", "dev", "worker"]:
                name = argv[3]
                env = copy_env(scaffolded, ORDERS_READY_FILE=str(tmp_path / f"{name}.ready"))
                procs[name] = spawn(scaffolded, argv, env, tmp_path / f"{name}.log")
        assert set(procs) == {WORKFLOW, ACTIVITY}

        async def ready() -> bool:
            for name, proc in procs.items():
                log = (tmp_path / f"{name}.log").read_text()[-3000:]
                assert proc.poll() is None, f"{name} exited:\n{log}"
            return all((tmp_path / f"{n}.ready").exists() for n in procs)

        await support.eventually(ready, timeout=90)
        yield tmp_path
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        codes = {n: await asyncio.to_thread(p.wait, 60) for n, p in procs.items()}
        logs = {n: (tmp_path / f"{n}.log").read_text()[-3000:] for n in procs}
        assert codes == {WORKFLOW: 0, ACTIVITY: 0}, logs
        # Each worker revoked its own leases on the way out: the roles are gone.
        assert await new_roles(stack) == []
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        await _undo(stack, stack_paths)


async def _undo(stack: StackInfo, paths: StackPaths) -> None:
    """Put Vault, Postgres and the front's rules back as the main tree describes them."""
    front_rules.install(paths.dev / FRONT_RULES)
    root = support.vault(stack, stack.root_token())
    for name in (ACTIVITY, WORKFLOW):
        root.delete(f"auth/kubernetes/role/{name}")
        root.sys.delete_policy(name)
    root.delete(f"database/roles/{ACTIVITY}")
    conn = await support.admin_pg(stack)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", GROUP):
            # Revokes the group's grants, its CONNECT and schema USAGE, and its membership.
            await conn.execute(f"DROP OWNED BY {GROUP}")
            await conn.execute(f"DROP ROLE {GROUP}")
        await conn.execute("UPDATE orders.alembic_version SET version_num = $1", HEAD_BEFORE)
    finally:
        await conn.close()


async def test_returns_workflow_runs_under_the_new_identity_only(
    scaffolded: Path,
    copy_tests: CopyRun,
    stack: StackInfo,
    stack_paths: StackPaths,
    client: Client,
    live: Path,
) -> None:
    order = support.make_order("return")
    assert (await support.complete(client, order)).outcome is Outcome.COMPLETED
    (argv,) = (a for a in doc_commands("live") if a[:3] == ["orders", "workflow", "run"])
    argv = [order.order_id if a == "$ORDER_ID" else a for a in argv]
    run = await asyncio.to_thread(in_copy, scaffolded, argv)
    assert run.returncode == 0, run.stdout + run.stderr
    assert [json.loads(line) for line in run.stdout.splitlines()] == [
        {"order_id": order.order_id, "step": "return_receive", "detail": "return_received"}
    ]

    conn = await support.admin_pg(stack)
    try:
        writer = await conn.fetchval(
            "SELECT written_by FROM orders.notifications WHERE order_id = $1 AND kind = $2",
            order.order_id,
            "return_received",
        )
        assert writer.startswith(f"v-{ACTIVITY}-"), writer
        # The worker holds a live credential: a Vault-issued member of the new group only.
        roles = await new_roles(stack)
        assert roles
        for role in roles:
            assert await conn.fetchval(GROUPS_OF_SQL.format(role="$1"), role) == GROUP
    finally:
        await conn.close()

    # Vault: the new identity gets its own credential, nobody else's.
    vault = support.login(stack, ACTIVITY, projected_token(stack, stack_paths, new_identity()))
    try:
        with pytest.raises(hvac.exceptions.Forbidden):
            vault.secrets.database.generate_credentials(identities.ORDER_NOTIFY.db_role)
        cred = vault.secrets.database.generate_credentials(ACTIVITY)["data"]
        pg = await support.connect_pg(stack, cred["username"], cred["password"])
        try:
            # Postgres: exactly the page's --tables, on every table and column.
            ident = new_identity()
            mismatches = [
                str(probe)
                for probe in probes()
                if await allowed(pg, probe.sql) != probe.expected(ident)
            ]
            assert mismatches == []
            assert not await allowed(pg, "SELECT transaction_id FROM orders.payments")
            assert not await allowed(pg, "SELECT customer_email FROM orders.orders")
            assert not await allowed(pg, "DELETE FROM orders.notifications")
        finally:
            await pg.close()
    finally:
        vault.auth.token.revoke_self()
    # The workflow identity has no database role at all.
    wf_identity = Identity(WORKFLOW, Kind.WORKFLOW)
    wf_vault = support.login(stack, WORKFLOW, projected_token(stack, stack_paths, wf_identity))
    try:
        with pytest.raises(hvac.exceptions.Forbidden):
            wf_vault.secrets.database.generate_credentials(ACTIVITY)
    finally:
        wf_vault.auth.token.revoke_self()


def test_copy_is_lint_clean_and_its_contract_tests_pass(
    scaffolded: Path, copy_tests: CopyRun
) -> None:
    ruff = Path(sys.executable).parent / "ruff"
    for args in (["check", "."], ["format", "--check", "."]):
        lint = subprocess.run([str(ruff), *args], cwd=scaffolded, capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr
    code = copy_tests.proc.wait(timeout=300)
    output = copy_tests.out.read_text()
    assert code == 0, output[-5000:]
    passed = {line.split("::", 1)[1] for line in output.splitlines() if line.startswith("PASSED ")}
    # The contract-driven tests picked the new identities up by themselves.
    assert {
        "test_policy_file_grants_exactly_what_the_contract_says[return-receive]",
        "test_policy_file_grants_exactly_what_the_contract_says[returns-workflow]",
        "test_rendered_policy_grants_exactly_what_the_contract_says[return-receive]",
        "test_return_receive_completes_the_step",
        "test_migration_grants_equal_contract",
        f"test_every_statement_in_the_file_is_in_grants[{NEW_REVISION}]",
    } <= passed
