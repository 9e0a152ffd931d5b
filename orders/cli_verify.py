"""``orders verify TARGET``: the security claims as a conformance suite (part of the CLI).

One line per check (name, PASS/FAIL, short reason), a summary, exit 1 when any check
fails; ``--output json`` prints the whole report (every problem of every check) instead.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from orders.cli import err, out
from orders.cli_order import Output, OutputOpt

EXIT_FAILED_CHECKS = 1


def verify_cmd(
    target: Annotated[
        Path,
        typer.Argument(
            help="Target file (JSON/YAML, see docs/verify.md) or a dev stack's stack.json."
        ),
    ],
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Run only this check (repeatable); default: all."),
    ] = None,
    output: OutputOpt = Output.text,
) -> None:
    """Run the security checks against a deployment; exit 1 if any fails."""
    from orders.verify import runner
    from orders.verify.target import TargetError, load

    unknown = sorted(set(only or ()) - set(runner.CHECKS))
    if unknown:
        err.print(f"--only: unknown check {', '.join(unknown)}; known: {', '.join(runner.CHECKS)}")
        raise typer.Exit(2)
    try:
        loaded = load(target)
    except TargetError as exc:
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(2) from None
    report = asyncio.run(runner.verify(loaded, tuple(only or ())))
    if output is Output.json:
        print(report.model_dump_json(indent=2))
    else:
        for line in report.lines():
            out.print(line, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(0 if report.passed else EXIT_FAILED_CHECKS)
