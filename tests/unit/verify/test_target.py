"""The target file: loading, the dev stack's derivation, the kind writer, bad input (offline)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orders.contract import identities
from orders.verify import kind_target, seat
from orders.verify.report import CheckResult, Report, summarize
from orders.verify.target import DevstackTokens, KubectlTokens, TargetError, load

EXTERNAL = """
name: staging
temporal: {address: "temporal.example:7233", ca_file: ca.pem, server_name: temporal.orders.local}
vault: {address: "https://vault.example:8200", ca_file: ca.pem}
postgres: {host: db.example, port: 5432, ca_file: ca.pem}
codec_server: {url: "https://codec.example", ui_origin: "https://ui.example", client_id: abc}
identity_tokens:
  source: files
  files: {order-client: tokens/order-client.jwt}
people:
  viewer: {username: ann, password_file: people/ann}
  outsider: {username: ben, password_file: people/ben}
  approver: {username: bob, password_file: people/bob}
"""


def test_an_external_target_file_resolves_paths_next_to_it(tmp_path: Path) -> None:
    path = tmp_path / "staging.yaml"
    path.write_text(EXTERNAL)
    target = load(path)
    assert target.temporal.ca_file == tmp_path / "ca.pem"
    assert target.people.approver.password_file == tmp_path / "people" / "bob"
    assert target.identity_tokens.source == "files"
    (tmp_path / "tokens").mkdir()
    (tmp_path / "tokens" / "order-client.jwt").write_text("jwt-of-order-client\n")
    assert seat.service_account_token(target, identities.ORDER_CLIENT) == "jwt-of-order-client"
    with pytest.raises(seat.TokenSourceError, match="order-notify"):
        seat.service_account_token(target, identities.ORDER_NOTIFY)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d["vault"].pop("address"), "vault.address"),
        (lambda d: d["postgres"].update(port="five"), "postgres.port"),
        (lambda d: d["identity_tokens"].update(source="ouija"), "identity_tokens"),
        (lambda d: d.update(extra=1), "extra"),
    ],
)
def test_a_bad_target_file_is_refused_naming_the_field(
    tmp_path: Path, change: object, named: str
) -> None:
    data = yaml.safe_load(EXTERNAL)
    change(data)  # type: ignore[operator]
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(TargetError, match=named):
        load(path)


def test_a_missing_target_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match=r"missing\.yaml"):
        load(tmp_path / "missing.yaml")


def test_the_dev_stack_json_is_a_target(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    dev.mkdir()
    stack = {
        "temporal_address": "127.0.0.1:7233", "namespace": "orders", "ui_url": "https://ui",
        "vault_addr": "https://127.0.0.1:8200", "vault_root_token_file": "/x",
        "postgres_admin_dsn": "postgresql://x", "identity_endpoint": "https://127.0.0.1:1",
        "identity_ca_file": "/ca", "token_files": {}, "postgres_host": "127.0.0.1",
        "postgres_port": 5432, "database": "orders", "codec_server_url": "https://codec",
        "ca_file": "/tls/ca.pem", "temporal_server_name": "temporal.orders.local",
        "codec_client_id": "cid",
    }  # fmt: skip
    (dev / "stack.json").write_text(json.dumps(stack))
    target = load(dev / "stack.json")
    assert target.identity_tokens == DevstackTokens(home=tmp_path)
    assert target.temporal.front_token_key_file == dev / "secrets" / "front-token-key"
    assert target.codec_server.ui_origin == "https://ui"
    assert target.people.approver.password_file == dev / "secrets" / "approver-bob"
    assert target.people.viewer.password_file == dev / "secrets" / "user-dev-viewer"
    # Without TLS there is nothing to verify the servers against: refused, by field.
    (dev / "stack.json").write_text(json.dumps({**stack, "ca_file": None}))
    with pytest.raises(TargetError, match="no ca_file"):
        load(dev / "stack.json")


def test_the_kind_writer_writes_a_target_that_loads_back(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    for role, user in (
        ("viewer", "dev-viewer"),
        ("outsider", "dev-other-viewer"),
        ("approver", "bob"),
    ):
        (secrets / role).write_text("pw\n")
        (secrets / f"{role}.user").write_text(f"{user}\n")
    out = tmp_path / "kind.yaml"
    kind_target.main([
        "--context", "kind-hardened-orders", "--secrets-dir", str(secrets), "--out", str(out),
        "--temporal-port", "17233", "--vault-port", "18200", "--postgres-port", "15432",
        "--codec-port", "18443", "--ui-origin", "https://ui.orders.localhost",
        "--codec-client-id", "cid",
    ])  # fmt: skip
    assert out.stat().st_mode & 0o777 == 0o600
    target = load(out)
    assert target.temporal.address == "127.0.0.1:17233"
    assert target.vault.address == "https://127.0.0.1:18200"
    assert target.postgres.port == 15432
    assert target.people.outsider.username == "dev-other-viewer"
    assert target.people.approver.password() == "pw"
    tokens = target.identity_tokens
    assert isinstance(tokens, KubectlTokens)
    args = seat.kubectl_token_args(tokens, identities.ORDER_NOTIFY)
    assert args[:3] == ["kubectl", "--context", "kind-hardened-orders"]
    assert args[3:] == [
        "-n", "orders", "create", "token", identities.ORDER_NOTIFY.service_account,
        "--audience", identities.VAULT_AUDIENCE, "--duration", "600s",
    ]  # fmt: skip
    # No kubectl here: one clear error naming the problem, no traceback.
    missing = tokens.model_copy(update={"kubectl": str(tmp_path / "no-kubectl")})
    with pytest.raises(seat.TokenSourceError, match="kubectl"):
        seat._kubectl_token(missing, identities.ORDER_NOTIFY)


def test_report_lines_and_summary() -> None:
    passed, reason = summarize([], "all good")
    assert (passed, reason) == (True, "all good")
    passed, reason = summarize([f"p{i}" for i in range(5)], "x")
    assert not passed
    assert reason == "5 problem(s): p0; p1; p2 (+2 more)"
    report = Report(
        target="t",
        checks=[
            CheckResult(name="a", passed=True, reason="fine", seconds=1.0),
            CheckResult(name="bbb", passed=False, reason=reason, seconds=2.0, problems=["p0"]),
        ],
        seconds=3.0,
    )
    assert not report.passed
    assert report.lines() == [
        "a    PASS  fine (1.0s)",
        f"bbb  FAIL  {reason} (2.0s)",
        "1/2 checks passed in 3.0s; FAILED: bbb",
    ]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orders", "verify", *args],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


def test_the_command_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "t.yaml"
    bad.write_text("name: x\nvault: {}\n")
    done = _cli(str(bad))
    assert done.returncode == 2
    assert "temporal" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert len(done.stderr.strip().splitlines()) == 1
    done = _cli(str(bad), "--only", "nonsense")
    assert done.returncode == 2
    assert "nonsense" in done.stderr
    assert "Traceback" not in done.stderr
