"""CLI mistakes end in one or two lines on stderr and a non-zero exit, never a traceback.

Runs ``orders`` as a program would (``app(args)``, which exits) with no stack under its
home; an unknown order id needs the stack and is checked in ``tests/integration/test_cli``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from orders import cli, cli_order

PII = {
    "customer_email": "secret-person@example.com",
    "shipping_address": "7 Hidden Lane, Nowhere",
    "payment_reference": "tok-hidden-4242",
}
PLACE = ["order", "place", "--customer-id", "cust-1", "--item", "SKU-WIDGET:1"]


pytestmark = pytest.mark.usefixtures("cli_logging")


@pytest.fixture(autouse=True)
def _no_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty ORDERS_HOME: no stack runs there."""
    monkeypatch.setenv("ORDERS_HOME", str(tmp_path / "home"))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    """Exit code and the non-empty stderr lines of ``orders ARGS``."""
    with pytest.raises(SystemExit) as done:
        cli.app(list(args))
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert "Traceback" not in captured.err + captured.out
    code = done.value.code
    assert isinstance(code, int)
    return code, lines


def write(path: Path, content: bytes) -> str:
    path.write_bytes(content)
    return str(path)


def mistakes(tmp: Path) -> list[tuple[list[str], str, int]]:
    """(argv, what stderr must name, exit code)."""
    pii_file = write(tmp / "pii.json", json.dumps(PII).encode())
    no_stack = "stack is not running"
    missing = str(tmp / "missing.json")
    return [
        (["bogus"], "No such command 'bogus'", 2),
        (["order", "status"], "Missing argument 'order_id'", 2),
        (["order", "status", "o-1", "--output", "xml"], "'--output'", 2),
        (["order", "place", "--output", "yaml", "--json", missing], "'--output'", 2),
        (["--log-level", "loud", "dev", "status"], "'--log-level'", 2),
        (["dev", "server", "stop", "temporal"], "Invalid value for 'name'", 2),
        (["order", "place", "--json", missing], f"--json: cannot read {missing}", 2),
        (["order", "place", "--json", str(tmp)], "Is a directory", 2),
        (["order", "place", "--json", write(tmp / "b.json", b"\xff\xfe")], "not UTF-8", 2),
        (["order", "place", "--json", write(tmp / "l.json", b"[1]")], "JSON object", 2),
        (["order", "place", "--json", write(tmp / "j.json", b"{oops")], "not valid JSON", 2),
        ([*PLACE, "--pii-file", write(tmp / "x.json", b'{"ssn": "1"}')], "ssn", 2),
        ([*PLACE, "--pii-file", missing], "--pii-file: cannot read", 2),
        ([*PLACE, "--pii-file", pii_file, "--json", pii_file], "not with --json", 2),
        ([*PLACE, "--pii-file", pii_file], no_stack, 3),
        (["order", "status", "o-1"], no_stack, 3),
        (["order", "show", "o-1"], no_stack, 3),
        (["order", "approve", "o-1", "--as", "bob"], no_stack, 3),
        (["dev", "status"], no_stack, 3),
        (["dev", "server", "stop", "openbao"], no_stack, 3),
        (["keys", "rotate"], no_stack, 3),
        (["keys", "min-version", "orders-payload", "2"], no_stack, 3),
        (["keys", "rewrap", missing, "--output", str(tmp / "o.json")], missing, 2),
        (["demo"], no_stack, 3),
        (["login", "--user", "dev-viewer"], no_stack, 3),
        (["workflow", "run", "returns-workflow", "--order-id", "o-1"], no_stack, 3),
        (
            ["vault", "apply", "--vault-addr", "https://127.0.0.1:1", "--token-file", missing,
             "--kubernetes-host", "https://127.0.0.1:2", "--kubernetes-ca-file", missing,
             "--db-url", "postgresql://x", "--db-admin-password-file", missing],
            missing, 2,
        ),
    ]  # fmt: skip


def test_every_mistake_gets_one_or_two_lines_naming_the_thing_and_a_non_zero_exit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for args, named, expected in mistakes(tmp_path):
        code, lines = run(capsys, *args)
        assert code == expected, (args, code, lines)
        assert 1 <= len(lines) <= 2, (args, lines)
        assert named in " ".join(lines), (args, lines)


@pytest.mark.parametrize(
    ("error", "named", "expected"),
    [
        (httpx.ConnectError("refused"), "did not answer (ConnectError)", 3),
        (RuntimeError("Failed client connect: refused"), "did not answer", 3),
        (KeyError("surprise"), "Failed: KeyError: 'surprise'", 1),
    ],
)
def test_an_error_no_command_expected_is_still_one_or_two_lines(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    error: Exception,
    named: str,
    expected: int,
) -> None:
    def place(order: object, output: object) -> None:
        raise error

    monkeypatch.setattr(cli_order, "_place", place)
    pii_file = write(tmp_path / "pii.json", json.dumps(PII).encode())
    code, lines = run(capsys, *PLACE, "--pii-file", pii_file)
    assert code == expected
    assert 1 <= len(lines) <= 2, lines
    assert named in lines[0]


@pytest.mark.parametrize("flag", ["--email", "--address", "--payment-ref"])
def test_pii_options_are_refused_without_echoing_the_value(
    capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    code, lines = run(capsys, *PLACE, flag, "tok-leaked-4242")
    assert code == 2
    assert len(lines) == 1
    assert f"{flag}: refused" in lines[0]
    assert "--pii-file" in lines[0]
    assert "leaked" not in lines[0]


def test_without_pii_file_or_terminal_the_missing_fields_are_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, lines = run(capsys, *PLACE)
    assert code == 2
    for field in PII:
        assert any(line.strip().startswith(f"{field}: missing") for line in lines), lines


def test_on_a_terminal_the_cli_prompts_and_hides_the_payment_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    placed: list[object] = []
    monkeypatch.setattr(cli_order, "_interactive", lambda: True)
    monkeypatch.setattr(cli_order, "_place", lambda order, output: placed.append(order))
    answers = "".join(f"{PII[f]}\n" for f in cli_order.PII_FIELDS)
    result = CliRunner().invoke(cli.app, PLACE, input=answers)
    assert result.exit_code == 0, result.output
    [order] = placed
    assert {f: getattr(order, f) for f in PII} == PII
    shown = result.stdout + result.stderr
    assert PII["customer_email"] in shown  # echoed as typed
    assert PII["payment_reference"] not in shown  # like a password: no echo


def test_a_placing_process_argv_holds_no_pii_while_it_reads_stdin(tmp_path: Path) -> None:
    """What ``ps`` shows of the process is its argv: nothing personal is in it."""
    env = {**os.environ, "ORDERS_HOME": str(tmp_path / "home")}
    argv = [sys.executable, "-m", "orders", *PLACE, "--pii-file", "-"]
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        deadline = time.monotonic() + 30
        wchan = Path(f"/proc/{proc.pid}/wchan")
        while "pipe_read" not in wchan.read_text():  # blocked on our stdin pipe
            assert time.monotonic() < deadline, "the CLI never read its stdin"
            time.sleep(0.02)
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode()
        ps = subprocess.run(
            ["ps", "-ww", "-o", "args=", "-p", str(proc.pid)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        stdout, stderr = proc.communicate(json.dumps(PII).encode(), timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert cmdline.split("\0")[:-1] == argv
    for value in PII.values():
        assert value not in cmdline
        assert value not in ps
        assert value.encode() not in stdout + stderr
    # Read and valid (else exit 2): it got as far as looking for the stack.
    assert proc.returncode == 3, stderr
    assert b"stack is not running" in stderr


def test_forget_refuses_a_malformed_customer_id_without_echoing_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, lines = run(capsys, "customer", "forget", "Jane Doe <jane@example.com>")
    assert code == 2
    assert lines == ["customer id: not a customer id (1-64 of A-Z a-z 0-9 . _ -)"]


def test_forget_without_a_stack_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = run(capsys, "customer", "forget", "cust-1")
    assert code == 3
    assert "not running" in lines[0]
