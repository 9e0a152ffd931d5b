"""k8s/kind.sh (make kind-up/demo/down) fails early and clearly without docker or kind.

And what ``up`` ends with: the verify target it writes through its port-forwards is one
``orders verify`` loads (the script's own invocation, run offline).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from orders.deploy import k8s_base
from orders.deploy.common import ROOT
from orders.verify import kind_target
from orders.verify.target import KubectlTokens, load

SCRIPT = ROOT / "k8s" / "kind.sh"


def bin_dir(tmp_path: Path, *tools: str, fake_docker: bool = False) -> Path:
    """A PATH holding only ``tools`` (symlinked), and optionally a docker with no engine."""
    path = tmp_path / "bin"
    path.mkdir()
    for tool in tools:
        found = shutil.which(tool)
        assert found, tool
        (path / tool).symlink_to(found)
    if fake_docker:
        docker = path / "docker"
        docker.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
        docker.chmod(0o755)
    return path


def run(argv: list[str], path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=ROOT,
        env={"PATH": str(path), "HOME": str(path.parent)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("step", ["up", "verify", "demo", "down"])
def test_without_docker_it_says_so_and_exits_non_zero(tmp_path: Path, step: str) -> None:
    done = run(
        [shutil.which("bash") or "/bin/bash", str(SCRIPT), step], bin_dir(tmp_path, "dirname")
    )
    assert done.returncode == 3
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert "'docker' is not installed" in line
    assert "make demo" in line


def test_make_kind_up_without_an_engine_says_so(tmp_path: Path) -> None:
    path = bin_dir(tmp_path, "make", "bash", "env", "dirname", fake_docker=True)
    done = run(["make", "--no-print-directory", "kind-up"], path)
    assert done.returncode != 0
    assert "no Docker engine answers" in done.stderr
    assert "kind create" not in done.stdout + done.stderr


def test_without_kind_it_says_so(tmp_path: Path) -> None:
    path = bin_dir(tmp_path, "dirname")
    docker = path / "docker"
    docker.write_text("#!/bin/sh\nexit 0\n")  # an engine that answers
    docker.chmod(0o755)
    done = run([shutil.which("bash") or "/bin/bash", str(SCRIPT), "up"], path)
    assert done.returncode == 3
    assert "'kind' is not installed" in done.stderr


def _shell_ports() -> dict[str, str]:
    """``T_PORT=17233`` ... of the script, by variable."""
    return dict(re.findall(r"^([A-Z])_PORT=(\d+)$", SCRIPT.read_text(), re.MULTILINE))


def _function(name: str) -> str:
    text = SCRIPT.read_text()
    body = text[text.index(f"\n{name}() {{") :]
    return body[: body.index("\n}\n")]


def test_up_ends_by_verifying_the_target_it_writes() -> None:
    up = _function("up").strip().splitlines()
    assert up[-1].strip() == "verify"
    verify = _function("verify")
    assert 'orders verify "$target"' in verify
    # Each port-forward lands on the port the target writer names for that server.
    ports = {v: int(p) for v, p in _shell_ports().items()}
    forwards = dict(re.findall(r'forward \S+ (\S+) "\$\{([A-Z])_PORT\}:', verify))
    servers = {"temporal-front": "temporal", "openbao": "vault", "postgres": "postgres"}
    servers["codec-server"] = "codec"
    assert {servers[svc]: ports[var] for svc, var in forwards.items()} == kind_target.PORTS


def test_the_target_kind_up_writes_is_one_orders_verify_loads(tmp_path: Path) -> None:
    home, people = tmp_path / "kind", tmp_path / "people"
    secrets = home / "verify"
    secrets.mkdir(parents=True)
    people.mkdir()
    (secrets / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (secrets / "codec-client-id").write_text("the-codec-client\n")
    for role in kind_target.ROLES:
        (secrets / role).write_text("pw\n")
        (secrets / f"{role}.user").write_text(f"{role}-user\n")
    # The script's own invocation, its variables replaced by what `verify` sets them to.
    verify = _function("verify")
    start = verify.index("-m orders.verify.kind_target") + len("-m orders.verify.kind_target")
    call = verify[start : verify.index("\n  .venv/bin/orders verify")]
    values = {f"{v}_PORT": p for v, p in _shell_ports().items()}
    values |= {"CLUSTER": "hardened-orders", "dir": str(secrets), "target": str(home / "v.yaml")}
    argv = [
        re.sub(r"\$\{?(\w+)\}?", lambda m: values[m.group(1)], word)
        for word in shlex.split(call.replace("\\\n", " "))
    ]
    assert kind_target.main(argv) == 0
    target = load(home / "v.yaml")
    assert target.name == "kind cluster kind-hardened-orders"
    assert target.codec_server.client_id == "the-codec-client"
    assert target.codec_server.url == f"https://127.0.0.1:{kind_target.PORTS['codec']}"
    # People's tokens say OpenBao is at the port kind's issuer was configured with.
    assert target.vault.address == k8s_base.KIND_PEOPLE.vault_public
    assert target.codec_server.ui_origin == k8s_base.KIND_PEOPLE.ui_public
    assert target.people.approver.username == "approver-user"
    assert isinstance(target.identity_tokens, KubectlTokens)
    assert target.identity_tokens.context == "kind-hardened-orders"


def test_a_secrets_directory_without_people_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ca.pem").write_text("x")
    out = tmp_path / "v.yaml"
    with pytest.raises(SystemExit) as exited:
        kind_target.main(["--context", "c", "--secrets-dir", str(tmp_path), "--out", str(out)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "lacks viewer, outsider, approver" in err
    assert "Traceback" not in err
    assert not out.exists()
