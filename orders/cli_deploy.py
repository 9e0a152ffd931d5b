"""``orders deploy …``: versioned rollouts of workflow workers (a part of :mod:`orders.cli`).

An operator's task: on the dev stack the command acts as the ``temporal-admin`` principal,
whose minutes-long certificate it issues with the stack's root token; no worker identity
may make these calls (the authorization front refuses them). The procedure is in
docs/evolving-workflows.md.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table

from orders import rollout
from orders.cli import EXIT_BAD_INPUT, _paths, _stack, err, out
from orders.contract import identities
from orders.contract.identities import Identity, Kind

deploy = typer.Typer(no_args_is_help=True, help="Versioned rollouts of workflow workers.")

IdentityOpt = Annotated[
    str,
    typer.Option("--identity", help="The workflow identity (its Worker Deployment)."),
]


def _workflow_identity(name: str) -> Identity:
    """The workflow identity named ``name``, or exit 2 naming it."""
    try:
        ident = identities.get(name)
    except KeyError as exc:
        err.print(f"[red]--identity: {exc.args[0]}[/red]")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if ident.kind is not Kind.WORKFLOW:
        err.print(f"[red]--identity: {name} runs no workflow worker (not versioned)[/red]")
        raise typer.Exit(EXIT_BAD_INPUT)
    return ident


@deploy.command("promote")
def deploy_promote(
    build_id: Annotated[str, typer.Option("--build-id", help="The version to make current.")],
    identity: IdentityOpt = identities.ORDER_WORKFLOW.name,
) -> None:
    """Make a version current: new runs go to its workers; running ones stay where they are."""
    from orders.devstack import actas

    ident = _workflow_identity(identity)
    if not build_id.strip():
        err.print("[red]--build-id: empty[/red]")
        raise typer.Exit(EXIT_BAD_INPUT)
    stack, paths = _stack(), _paths()

    async def go() -> str | None:
        service = await actas.operator_service(stack, paths)
        return await rollout.set_current(service, stack.namespace, ident, build_id)

    try:
        previous = asyncio.run(go())
    except rollout.VersionNotPolledError as exc:
        err.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    out.print(
        f"{ident.worker_deployment}: current version {build_id} (was {previous or 'unversioned'})",
        highlight=False,
    )


@deploy.command("status")
def deploy_status(identity: IdentityOpt = identities.ORDER_WORKFLOW.name) -> None:
    """Show a deployment's versions: current, draining (pinned runs left) or drained."""
    from orders.devstack import actas

    ident = _workflow_identity(identity)
    stack, paths = _stack(), _paths()

    async def go() -> rollout.DeploymentState:
        service = await actas.operator_service(stack, paths)
        return await rollout.describe(service, stack.namespace, ident)

    try:
        state = asyncio.run(go())
    except rollout.VersionNotPolledError:
        err.print(f"[red]{ident.worker_deployment}: no versioned worker has polled yet[/red]")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    table = Table(title=f"worker deployment {state.name}")
    table.add_column("build id")
    table.add_column("status")
    for version in state.versions:
        table.add_row(version.build_id, version.status)
    out.print(table)
