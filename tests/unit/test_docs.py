"""Every ``orders`` command the README and docs/ show still parses.

The pages' ``bash`` blocks are read, continuation lines joined, and each ``orders …`` command
(also inside ``$( … )``) is run with ``--help`` appended through Typer's runner: click parses
the whole line before it honours ``--help``, so a renamed command or a dropped option fails
here, while nothing is executed. ``docs/build-your-own-workflow.md`` is also run end to end
(``tests/integration/test_scaffold.py``).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Final

import pytest
from typer.testing import CliRunner

from orders.cli import app

ROOT: Final = Path(__file__).resolve().parents[2]
PAGES: Final = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK: Final = re.compile(r"^```(?:bash|sh|console)\n(.*?)^```", re.M | re.S)
OPERATORS: Final = frozenset({"&&", "||", ";", "|", "&", "(", ")", "$"})


def commands(page: Path) -> list[list[str]]:
    """The argv (after ``orders``) of every ``orders`` command in ``page``'s shell blocks."""
    found = []
    for block in BLOCK.findall(page.read_text()):
        for line in block.replace("\\\n", " ").splitlines():
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            tokens = list(lexer)
            for i, token in enumerate(tokens):
                if token.rsplit("/", 1)[-1] != "orders" or (i and tokens[i - 1] not in OPERATORS):
                    continue
                argv = []
                for arg in tokens[i + 1 :]:
                    if arg in OPERATORS:
                        break
                    argv.append(arg)
                if argv:
                    found.append(argv)
    return found


DOCUMENTED: Final = [(page, argv) for page in PAGES for argv in commands(page)]
CASES: Final = [pytest.param(a, id=f"{p.name}:{' '.join(a[:3])}") for p, a in DOCUMENTED]


def test_the_pages_show_commands() -> None:
    # Control: the extraction finds the README's and the pages' commands at all.
    assert len(DOCUMENTED) >= 10
    assert any(argv[:2] == ["dev", "up"] for _, argv in DOCUMENTED)


@pytest.mark.parametrize("argv", CASES)
def test_documented_command_parses(argv: list[str]) -> None:
    result = CliRunner().invoke(app, [*argv, "--help"])
    assert result.exit_code == 0, f"`orders {' '.join(argv)}`: {result.output}"


def test_a_dropped_option_would_be_caught() -> None:
    # Control: the check refuses what click would refuse.
    result = CliRunner().invoke(app, ["order", "place", "--no-such-option", "x", "--help"])
    assert result.exit_code != 0
