"""Identities' processes on the dev stack: a minimal environment, and (as root) own OS users.

Read from the running session stack: each worker's and the codec server's
``/proc/<pid>/environ`` and uid, and what a process with that uid may open.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orders.codec_server.settings import CodecServerSettings
from orders.contract import identities
from orders.devstack import actas, identity_procs, users
from orders.devstack.state import StackInfo, StackPaths, Status
from orders.settings import LeaseTiming, WorkerSettings

pytestmark = pytest.mark.integration

IDENTITIES = [*identities.workers(), identities.CODEC_SERVER]

SETTINGS = {f"ORDERS_{name.upper()}" for name in WorkerSettings.model_fields} | {
    f"ORDERS_LEASE_{name.upper()}" for name in LeaseTiming.model_fields
}
CODEC_SETTINGS = {f"ORDERS_CODEC_{name.upper()}" for name in CodecServerSettings.model_fields}
ALLOWED = {*users.RUNTIME_VARIABLES, "HOME", "PYTHONUNBUFFERED"}

# Run as the identity's uid: tries each path (a Unix socket: connect) and prints what
# happened, "ok" or the errno's name. No site packages: nothing of the venv is needed.
PROBE = """
import errno, json, os, socket, stat, sys
out = {}
for name, path in json.loads(sys.argv[1]).items():
    try:
        if os.path.exists(path) and stat.S_ISSOCK(os.stat(path).st_mode):
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(path)
        else:
            with open(path, "rb") as f:
                f.read(1)
        out[name] = "ok"
    except OSError as exc:
        out[name] = errno.errorcode.get(exc.errno or 0, str(exc.errno))
print(json.dumps(out))
"""


def _pids(paths: StackPaths) -> dict[str, int]:
    status = Status.load(paths)
    assert status is not None
    assert status.state == "ready"
    return {i.name: status.processes[i.name] for i in IDENTITIES}


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def _ids(pid: int) -> tuple[int, int]:
    """Real uid and gid of ``pid`` (they equal the effective ones: no setuid anywhere)."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["Uid"].split()[0]), int(fields["Gid"].split()[0])


def test_identities_start_with_their_own_settings_only(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    root_token = stack.root_token()
    for name, pid in _pids(stack_paths).items():
        env = _environ(pid)
        allowed = ALLOWED | SETTINGS | (CODEC_SETTINGS if name == "codec-server" else set())
        assert set(env) <= allowed, f"{name} inherited {sorted(set(env) - allowed)}"
        assert env["ORDERS_IDENTITY"] == name
        assert env["HOME"] == str(stack_paths.process_home(name))
        for key, value in env.items():
            assert root_token not in value, f"{name}: the root token is in {key}"
            others = [i.name for i in identities.ALL if i.name != name and i.name in value]
            assert not others, f"{name}: {key} names {others}"


@pytest.mark.skipif(
    os.geteuid() != 0, reason="own OS users need root; elsewhere only the env is minimal"
)
def test_an_identity_cannot_open_root_secrets_or_another_identitys_files(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    status = Status.load(stack_paths)
    assert status is not None
    assert status.isolation == users.SEPARATE_USERS
    pids = _pids(stack_paths)
    ids = {name: _ids(pid) for name, pid in pids.items()}
    assert all(uid != 0 for uid, _ in ids.values()), ids
    assert len({uid for uid, _ in ids.values()}) == len(ids), "identities share a uid"

    names = list(pids)
    for name in names:  # the files tools keep when acting as an identity (root's)
        actas.projected_token(stack, stack_paths, identities.get(name))
    for me, victim in zip(names, names[1:] + names[:1], strict=True):
        home, theirs = stack_paths.process_home(me), stack_paths.process_home(victim)
        refused = {
            "root token": stack.vault_root_token_file,
            "unseal key": str(stack_paths.secrets / "openbao-unseal-key"),
            "control socket": str(stack_paths.control_socket),
            "stack.json (admin DSN)": str(stack_paths.stack_json),
            "identity endpoint signing key": str(stack_paths.identity / "signing.key"),
            "another identity's token": str(theirs / identity_procs.TOKEN_FILE),
            "another identity's credential": str(theirs / identity_procs.CREDENTIAL_FILE),
            "tools' token of another identity": str(stack_paths.token_file(victim)),
        }
        allowed = {
            "own token": str(home / identity_procs.TOKEN_FILE),
            "own credential": str(home / identity_procs.CREDENTIAL_FILE),
            "root CA": str(stack_paths.ca_file),
        }
        for path in [*refused.values(), *allowed.values()]:
            assert Path(path).exists(), path  # refused because private, not because absent
        uid, gid = ids[me]
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", PROBE, json.dumps(refused | allowed)],
            user=uid, group=gid, extra_groups=[], cwd="/",
            capture_output=True, text=True, check=True, timeout=30,
        )  # fmt: skip
        seen = json.loads(done.stdout)
        assert {k: seen[k] for k in refused} == dict.fromkeys(refused, "EACCES"), me
        assert {k: seen[k] for k in allowed} == dict.fromkeys(allowed, "ok"), me
