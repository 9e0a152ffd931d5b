"""Client side of the dev stack: ``orders dev up | down | status``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from orders.devstack.procs import kill_tree
from orders.devstack.servers import tail
from orders.devstack.state import StackPaths, Status
from orders.vault.config import Ttls

if TYPE_CHECKING:
    # psutil comes with the `stack` extra: imported where used, so `orders` (whose CLI
    # imports this module) runs from a plain install for everything but the local stack.
    import psutil


_TTLS: Final = Ttls()
"""Vault configuration's defaults: the stack starts with them unless told otherwise."""


@dataclass(frozen=True)
class UpOptions:
    """Lifetimes the stack is configured with (seconds); defaults are Vault config's."""

    db_ttl: int = _TTLS.db_default
    db_max_ttl: int = _TTLS.db_max
    token_ttl: int = _TTLS.token
    token_max_ttl: int = _TTLS.token_max
    min_token_seconds: int = 60
    cert_ttl: int = _TTLS.cert
    temporal_token_ttl: int = _TTLS.temporal_token


class StackError(RuntimeError):
    """The stack could not be started or stopped; the message says why."""


def supervisor_process(paths: StackPaths) -> psutil.Process | None:
    """The running supervisor of this stack, if any."""
    import psutil

    try:
        pid = int(paths.supervisor_pid.read_text())
        proc = psutil.Process(pid)
        if "orders.devstack.supervisor" in " ".join(proc.cmdline()):
            return proc
    except (FileNotFoundError, ValueError, psutil.Error):
        pass
    return None


def up(
    paths: StackPaths,
    options: UpOptions,
    timeout: float = 240.0,
    progress: Callable[[str], None] | None = None,
) -> Status:
    """Start the stack in the background and wait until every part is healthy.

    Running it while the stack is up is harmless: it returns the current status.
    ``progress`` is told each step the supervisor reports (what starts, what it waits for).

    Raises:
        StackError: If start-up failed (with the supervisor's log tail) or timed out.
    """
    paths.ensure()
    if supervisor_process(paths) is not None:
        status = Status.load(paths)
        if status is not None and status.state == "ready":
            return status
        return wait_ready(paths, timeout, progress=progress)
    return wait_ready(paths, timeout, start(paths, options), progress)


def start(paths: StackPaths, options: UpOptions) -> subprocess.Popen[bytes]:
    """Launch the supervisor without waiting for it (see :func:`wait_ready`).

    Lets a caller do other work while the servers boot (the test session runs its unit
    tests meanwhile). The caller must make sure no supervisor runs for ``paths`` yet.
    """
    paths.ensure()
    paths.status_json.unlink(missing_ok=True)
    for marker in paths.homes.glob("*/ready"):
        marker.unlink()
    log = paths.log_file("supervisor").open("ab")
    try:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orders.devstack.supervisor",
                "--home",
                str(paths.home),
                "--db-ttl",
                str(options.db_ttl),
                "--db-max-ttl",
                str(options.db_max_ttl),
                "--token-ttl",
                str(options.token_ttl),
                "--token-max-ttl",
                str(options.token_max_ttl),
                "--min-token-seconds",
                str(options.min_token_seconds),
                "--cert-ttl",
                str(options.cert_ttl),
                "--temporal-token-ttl",
                str(options.temporal_token_ttl),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the CLI; `dev down` stops it
            env={**os.environ, "ORDERS_HOME": str(paths.home), "PYTHONUNBUFFERED": "1"},
        )
    finally:
        log.close()


def wait_ready(
    paths: StackPaths,
    timeout: float = 240.0,
    child: subprocess.Popen[bytes] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Status:
    """Wait until the stack reports ready, telling ``progress`` each new step on the way.

    Raises:
        StackError: If ``child`` (the supervisor) exited before reporting, the stack
            reported a failure, or ``timeout`` seconds passed.
    """
    deadline = time.monotonic() + timeout
    shown = ""
    while time.monotonic() < deadline:
        if child is not None and child.poll() is not None and Status.load(paths) is None:
            raise StackError(
                f"the supervisor exited with code {child.returncode} before reporting:\n"
                f"{tail(paths.log_file('supervisor'), 40)}"
            )
        status = Status.load(paths)
        if progress is not None and status is not None and status.detail != shown:
            shown = status.detail
            progress(shown)
        if status is not None and status.state == "ready":
            return status
        if status is not None and status.state in ("failed", "stopped"):
            raise StackError(
                f"the stack failed to start: {status.detail}\n"
                f"--- {paths.log_file('supervisor')}\n{tail(paths.log_file('supervisor'), 40)}"
            )
        time.sleep(0.5)
    raise StackError(f"the stack was not ready after {timeout:.0f}s; see {paths.logs}")


def down(paths: StackPaths, timeout: float = 150.0) -> Status | None:
    """Stop the stack: drain, revoke every lease, stop every server.

    Returns:
        The final status with the supervisor's report (leftover roles, revocations).
    """
    proc = supervisor_process(paths)
    if proc is None:
        _kill_leftovers(paths)
        return Status.load(paths)
    proc.send_signal(signal.SIGTERM)
    import psutil

    try:
        proc.wait(timeout)
    except psutil.TimeoutExpired:
        kill_tree(proc.pid)
        _kill_leftovers(paths)
        raise StackError(f"the supervisor did not stop in {timeout:.0f}s; killed it") from None
    return Status.load(paths)


def server(paths: StackPaths, action: str, name: str, timeout: float = 150.0) -> dict[str, object]:
    """Ask the running supervisor to ``stop``, ``start`` or ``restart`` a server.

    Goes through the supervisor's control socket, so the supervisor knows the outage is
    deliberate (it does not restart a stopped server) and brings the server back exactly as
    at start-up (OpenBao unsealed; data kept). Returns when the action is done.

    Raises:
        StackError: No supervisor, or it refused or failed the action (the reason).
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(paths.control_socket))
        except OSError as exc:
            raise StackError(f"no supervisor control channel: {type(exc).__name__}") from None
        sock.sendall(json.dumps({"action": action, "proc": name}).encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    answer: dict[str, object] = json.loads(reply or b"{}")
    if not answer.get("ok"):
        raise StackError(f"{action} {name} failed: {answer.get('error', 'no answer')}")
    return answer


def _kill_leftovers(paths: StackPaths) -> None:
    """Kill processes a crashed supervisor left behind (recorded in status.json)."""
    status = Status.load(paths)
    if status is None:
        return
    import psutil

    for pid in status.processes.values():
        try:
            proc = psutil.Process(pid)
            # Servers name the stack's home on their command line, workers in their env.
            ours = str(paths.home) in " ".join(proc.cmdline()) or any(
                str(paths.home) in v for v in proc.environ().values()
            )
        except psutil.Error:
            continue
        if ours:
            kill_tree(pid)
