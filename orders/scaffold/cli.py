"""Commands of the scaffold: ``orders new …``, ``orders dev apply|worker``, ``orders workflow run``.

Kept apart from :mod:`orders.cli`, which only registers them.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from orders.contract import identities
from orders.devstack.state import StackInfo, StackPaths
from orders.settings import WorkerSettings

new = typer.Typer(no_args_is_help=True, help="Scaffold a new identity from the contract.")
workflow = typer.Typer(no_args_is_help=True, help="Run workflows made by `orders new workflow`.")
out = Console(width=None)
err = Console(stderr=True, width=None)


def _report(written: list[object], rendered: str) -> None:
    for path in written:
        out.print(f"wrote {path}")
    for line in rendered.splitlines():
        out.print(f"rendered {line}")


@new.command("activity")
def new_activity(
    name: Annotated[str, typer.Argument(help="Identity name, e.g. record-return.")],
    tables: Annotated[
        str,
        typer.Option(help='Postgres grants: "table:SELECT,INSERT;other:SELECT(col1,col2)".'),
    ] = "",
    workflow_name: Annotated[
        str | None,
        typer.Option("--workflow", help="A workflow made by `orders new workflow` to run it."),
    ] = None,
    summary: Annotated[str | None, typer.Option(help="One line saying what it does.")] = None,
) -> None:
    """Add an activity identity: contract entry, code, test, policy, migration, manifests."""
    from orders.scaffold import (
        ScaffoldError,
        TablesError,
        parse_tables,
        plan_activity,
        render_derived,
        tidy,
    )

    try:
        grants = parse_tables(tables) if tables.strip() else ()
        plan = plan_activity(name, grants, workflow=workflow_name, summary=summary)
        written = plan.apply()
        tidy(written)
        _report(list(written), render_derived())
    except (ScaffoldError, TablesError) as exc:
        err.print(f"[red]orders new activity: {exc}[/red]")
        raise typer.Exit(2) from None


@new.command("workflow")
def new_workflow(
    name: Annotated[str, typer.Argument(help="Workflow name, e.g. returns.")],
) -> None:
    """Add a workflow identity (<name>-workflow) running a generated <Name>Workflow."""
    from orders.scaffold import ScaffoldError, plan_workflow, render_derived, tidy

    try:
        written = plan_workflow(name).apply()
        tidy(written)
        _report(list(written), render_derived())
    except ScaffoldError as exc:
        err.print(f"[red]orders new workflow: {exc}[/red]")
        raise typer.Exit(2) from None


def _stack() -> tuple[StackInfo, StackPaths]:
    paths = StackPaths.default()
    try:
        return StackInfo.load(paths), paths
    except FileNotFoundError:
        err.print("[red]The stack is not running: start it with `orders dev up`.[/red]")
        raise typer.Exit(3) from None


def dev_apply() -> None:
    """Apply the contract to the running stack: group roles, vault/, migrations."""
    from orders.devstack.live import apply_contract

    info, paths = _stack()
    written = asyncio.run(apply_contract(info, paths))
    out.print(f"bootstrapped, applied {len(written)} Vault paths, migrated")


def dev_worker(
    identity: Annotated[str, typer.Argument(help="A workflow or activity identity.")],
) -> None:
    """Run one identity's worker against the running stack (until Ctrl-C / SIGTERM).

    A workflow worker polls as its Worker Deployment version, like the stack's own; once it
    polls, its version is made current (as ``orders dev up`` does), so new runs reach it.
    """
    from orders.devstack.live import worker_settings

    info, paths = _stack()
    try:
        ident = identities.get(identity)
        settings = worker_settings(info, paths, ident)
    except (KeyError, ValueError) as exc:
        err.print(f"[red]{exc.args[0]}[/red]")
        raise typer.Exit(2) from None
    raise typer.Exit(asyncio.run(_run_current(info, paths, ident, settings)))


async def _run_current(
    info: StackInfo, paths: StackPaths, ident: identities.Identity, settings: WorkerSettings
) -> int:
    """Run ``ident``'s worker; once it polls, make its version current (the operator's seat)."""
    from orders import rollout
    from orders.devstack import actas
    from workers.build import run_worker

    if rollout.deployment_config(ident, settings) is None:
        return await run_worker(ident, settings)
    ready = settings.ready_file
    if ready is None:
        ready = Path(tempfile.mkdtemp(prefix="orders-worker-")) / "ready"
        settings = settings.model_copy(update={"ready_file": ready})
    worker = asyncio.create_task(run_worker(ident, settings))
    while not worker.done():
        if ready.exists():  # written once the worker polls
            service = await actas.operator_service(info, paths)
            build = rollout.build_id(settings)
            await rollout.promote_when_polled(service, info.namespace, ident, build)
            out.print(f"{ident.worker_deployment}: current version {build}", highlight=False)
            break
        await asyncio.sleep(0.2)
    return await worker


@workflow.command("run")
def workflow_run(
    identity: Annotated[str, typer.Argument(help="Workflow identity, e.g. returns-workflow.")],
    order_id: Annotated[str, typer.Option(help="The order to run it for.")],
) -> None:
    """Start the identity's workflow for an order as order-client; print the step results."""
    from orders.devstack import actas
    from orders.models import OrderRef, StepDone
    from workflows import workflows_for

    info, paths = _stack()
    try:
        ident = identities.get(identity)
        (cls,) = workflows_for(ident)
    except (KeyError, ValueError) as exc:
        err.print(f"[red]{exc.args[0]}[/red]")
        raise typer.Exit(2) from None

    async def go() -> list[str]:
        async with actas.temporal_client(info, paths) as client:
            # Generated workflows are registered under their class name (WORKFLOW_NAME).
            handle = await client.start_workflow(
                cls.__name__,
                OrderRef(order_id=order_id),
                id=f"{ident.name}-{order_id}",
                task_queue=ident.task_queue,
                result_type=list[StepDone],
            )
            done = await handle.result()
            return [d.model_dump_json() for d in done]

    for line in asyncio.run(go()):
        print(line)
