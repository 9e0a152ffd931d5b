"""Child processes of the dev-stack supervisor: start, watch, restart with backoff, stop."""

from __future__ import annotations

import contextlib
import pwd
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orders import logging as olog
from orders.devstack.users import PG_SYSTEM_USER, runtime_env, separate_users, system_user

log = olog.get(__name__)

STABLE_SECONDS = 30.0
"""A child that ran this long before dying starts again with the shortest backoff."""
MAX_BACKOFF_SECONDS = 30.0


def unprivileged_user() -> pwd.struct_passwd | None:
    """The user to run Postgres as: None when not root, else ``orders-pg`` (created once)."""
    return system_user(PG_SYSTEM_USER) if separate_users() else None


def make_traversable(path: Path) -> None:
    """Add the execute (traverse, not read) bit for others on every ancestor of ``path``.

    Postgres refuses to run as root, so its server runs as an unprivileged user that must
    reach its binaries in the virtualenv and its data directory under ``.orders/``.
    """
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


@dataclass
class Proc:
    """One supervised child process."""

    name: str
    argv: list[str]
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    """Its own variables, on top of :func:`~orders.devstack.users.runtime_env` (nothing else
    of the supervisor's environment reaches it)."""
    user: pwd.struct_passwd | None = None
    """Run as this user (its own group, no supplementary groups); None: the supervisor's."""
    home: Path | None = None
    """Its HOME and working directory (an identity's own directory); None: the supervisor's."""
    stop_signal: int = signal.SIGTERM
    restart: bool = True
    popen: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    backoff: float = 1.0
    started_at: float = 0.0

    def start(self) -> None:
        """Start (or restart) the process, appending to its log."""
        env = {**runtime_env(self.home), **self.env}
        user = self.user
        logf = self.log_path.open("ab")
        try:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.home,
                user=user.pw_uid if user is not None else None,
                group=user.pw_gid if user is not None else None,
                extra_groups=[] if user is not None else None,
                # What a child creates (Temporal's SQLite file, logs of its own) is its alone.
                umask=0o077,
            )
        finally:
            logf.close()
        self.started_at = time.monotonic()
        log.info("proc.started", proc=self.name, pid=self.popen.pid)

    @property
    def pid(self) -> int | None:
        """PID while running."""
        return self.popen.pid if self.popen is not None and self.alive() else None

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.popen is not None and self.popen.poll() is None

    def maybe_restart(self) -> bool:
        """Restart a dead process once its backoff has passed; True if restarted."""
        if not self.restart or self.alive() or self.popen is None:
            return False
        now = time.monotonic()
        if self.next_start == 0.0:
            # Backoff grows only while the child keeps dying young (a crash loop).
            if now - self.started_at >= STABLE_SECONDS:
                self.backoff = 1.0
            log.warning(
                "proc.died",
                proc=self.name,
                returncode=self.popen.returncode,
                restart_in=self.backoff,
                restarts=self.restarts,
            )
            self.next_start = now + self.backoff
            return False
        if now < self.next_start:
            return False
        self.restarts += 1
        self.backoff = min(self.backoff * 2, MAX_BACKOFF_SECONDS)
        self.next_start = 0.0
        self.start()
        return True

    def stop(self, timeout: float = 30.0) -> None:
        """Signal the process and wait; kill it (and its children) if it does not exit."""
        self.restart = False
        if not self.alive():
            return
        assert self.popen is not None
        self.popen.send_signal(self.stop_signal)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("proc.kill", proc=self.name)
            kill_tree(self.popen.pid)
            self.popen.wait(5)
        log.info("proc.stopped", proc=self.name, returncode=self.popen.returncode)


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and its descendants (best effort)."""
    import psutil  # the `stack` extra; see orders.devstack.control

    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    for proc in [*parent.children(recursive=True), parent]:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
