"""Children of the supervisor start from an allow-listed environment, as their own users."""

from __future__ import annotations

import json
import os
import pwd
import stat
import sys
from pathlib import Path

import pytest

from orders.devstack import users
from orders.devstack.procs import Proc

LEAKY = {
    "VAULT_TOKEN": "s.canary-root-token",
    "ORDERS_HOME": "/somewhere/.orders",
    "ORDERS_IDENTITY": "order-client",
    "AWS_SECRET_ACCESS_KEY": "canary",
}


def test_runtime_env_takes_only_listed_variables() -> None:
    source = {**LEAKY, "PATH": "/bin", "LANG": "C.UTF-8", "HOME": "/root"}
    env = users.runtime_env(Path("/homes/x"), source)
    assert env == {
        "PATH": "/bin",
        "LANG": "C.UTF-8",
        "HOME": "/homes/x",
        "PYTHONUNBUFFERED": "1",
    }


def test_tuning_is_stack_wide_settings_only() -> None:
    source = {**LEAKY, "ORDERS_LEASE_RETRY_MAX_SECONDS": "2", "ORDERS_LOG_LEVEL": "debug"}
    assert users.tuning_env(source) == {
        "ORDERS_LEASE_RETRY_MAX_SECONDS": "2",
        "ORDERS_LOG_LEVEL": "debug",
    }


def test_where_spans_go_passes_on_never_the_collectors_headers() -> None:
    source = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer s3cret",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "authorization=Bearer s3cret",
    }
    assert users.tuning_env(source) == {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
    }


def _child_env(tmp_path: Path, proc: Proc) -> dict[str, str]:
    proc.start()
    assert proc.popen is not None
    assert proc.popen.wait(30) == 0
    result: dict[str, str] = json.loads(proc.log_path.read_text())
    return result


def test_a_child_never_sees_the_supervisors_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in LEAKY.items():
        monkeypatch.setenv(key, value)
    proc = Proc(
        name="env",
        argv=[sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"],
        log_path=tmp_path / "env.log",
        env={"ORDERS_IDENTITY": "order-notify"},
    )
    env = _child_env(tmp_path, proc)
    assert env["ORDERS_IDENTITY"] == "order-notify"
    assert not {k for k in LEAKY if k != "ORDERS_IDENTITY"} & set(env)
    assert set(env) <= {*users.RUNTIME_VARIABLES, "HOME", "PYTHONUNBUFFERED", "ORDERS_IDENTITY"}


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_a_child_runs_as_its_user_in_its_home_and_creates_private_files(tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, nobody.pw_uid, nobody.pw_gid)
    tmp_path.chmod(0o711)
    code = (
        "import json, os; open('made', 'w').close(); "
        "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), "
        "'groups': os.getgroups(), 'cwd': os.getcwd()}))"
    )
    proc = Proc(
        name="demoted",
        argv=[sys.executable, "-I", "-S", "-c", code],
        log_path=tmp_path / "demoted.log",
        user=nobody,
        home=home,
    )
    seen = _child_env(tmp_path, proc)
    assert seen == {"uid": nobody.pw_uid, "gid": nobody.pw_gid, "groups": [], "cwd": str(home)}
    assert stat.S_IMODE((home / "made").stat().st_mode) == 0o600
