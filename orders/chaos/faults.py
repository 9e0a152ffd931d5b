"""Faults injected into a running local stack, each through the path a real fault takes.

* ``kill -9`` of a worker process: the supervisor notices and restarts it with backoff;
  the worker's lease is neither renewed nor revoked (it expires, or ``dev down`` revokes it).
* OpenBao stopped for a while, then started again through the supervisor's control
  channel: same raft data, unsealed again, every token and lease still known.
* Postgres restarted through the same channel (fast shutdown: every session is cut).
* A worker's current database lease revoked with the root token: Vault drops its role and
  terminates its sessions while the worker still believes in it.

Every injection returns a :class:`FaultRecord` for the run's table.
"""

from __future__ import annotations

import asyncio
import enum
import os
import random
import signal
import time
from dataclasses import dataclass, field

import hvac
import psutil

from orders import logging as olog
from orders.contract import identities
from orders.devstack import control
from orders.devstack.state import StackInfo, StackPaths, Status

log = olog.get(__name__)


class FaultKind(enum.StrEnum):
    """What was done to the stack."""

    WORKER_KILLED = "worker killed (SIGKILL)"
    VAULT_OUTAGE = "OpenBao stopped, restarted"
    POSTGRES_RESTART = "Postgres restarted"
    LEASE_REVOKED = "lease revoked under a worker"


@dataclass(frozen=True)
class FaultRecord:
    """One injected fault: what, on whom, when (seconds into the run), for how long."""

    kind: FaultKind
    target: str
    at: float
    seconds: float = 0.0


@dataclass
class Injector:
    """Injects faults into the stack at ``paths`` (whose supervisor must be running).

    Args:
        stack: The stack's endpoints.
        paths: Its state directory (status.json, control socket).
        rng: Chooses victims; seed it to repeat a run.
    """

    stack: StackInfo
    paths: StackPaths
    rng: random.Random = field(default_factory=random.Random)
    records: list[FaultRecord] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def _record(self, kind: FaultKind, target: str, at: float, seconds: float = 0.0) -> None:
        record = FaultRecord(kind, target, round(at - self.started, 1), round(seconds, 1))
        self.records.append(record)
        log.warning("chaos.fault", kind=kind.name, target=target, seconds=record.seconds)

    def _worker_pid(self, name: str) -> int | None:
        """The pid of ``name``'s worker, only if it really is this stack's worker."""
        status = Status.load(self.paths)
        pid = status.processes.get(name) if status else None
        if pid is None:
            return None
        try:
            proc = psutil.Process(pid)
            cmd = proc.cmdline()
            env = proc.environ()
        except psutil.Error:
            return None
        ours = cmd[-2:] == ["workers", name] and env.get("ORDERS_TOKEN_FILE", "").startswith(
            str(self.paths.home)
        )
        return pid if ours else None

    async def kill_worker(self, name: str | None = None) -> str | None:
        """SIGKILL one worker (a random identity's by default); None if none was running."""
        names = [name] if name else [i.name for i in identities.workers()]
        self.rng.shuffle(names)
        for candidate in names:
            pid = self._worker_pid(candidate)
            if pid is None:
                continue  # being restarted right now
            now = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            self._record(FaultKind.WORKER_KILLED, candidate, now)
            return candidate
        return None

    async def vault_outage(self, seconds: float) -> None:
        """Stop OpenBao, keep it down for ``seconds``, start it again (unsealed)."""
        begin = time.monotonic()
        await asyncio.to_thread(control.server, self.paths, "stop", "openbao")
        try:
            await asyncio.sleep(max(0.0, seconds - (time.monotonic() - begin)))
        finally:
            await asyncio.to_thread(control.server, self.paths, "start", "openbao")
        self._record(FaultKind.VAULT_OUTAGE, "openbao", begin, time.monotonic() - begin)

    async def restart_postgres(self, seconds: float = 0.0) -> None:
        """Stop Postgres (fast shutdown: every session is terminated), start it again.

        Args:
            seconds: How long it stays down; a bare restart takes well under a second,
                short enough to fall between two activities' queries.
        """
        begin = time.monotonic()
        await asyncio.to_thread(control.server, self.paths, "stop", "postgres")
        try:
            await asyncio.sleep(max(0.0, seconds - (time.monotonic() - begin)))
        finally:
            await asyncio.to_thread(control.server, self.paths, "start", "postgres")
        self._record(FaultKind.POSTGRES_RESTART, "postgres", begin, time.monotonic() - begin)

    async def revoke_lease(self, name: str | None = None) -> str | None:
        """Revoke the newest database lease of one identity (random by default).

        Returns:
            The identity whose lease was revoked, or None if no identity had one.
        """
        candidates = [i for i in identities.workers() if i.has_db_role]
        if name is not None:
            candidates = [identities.get(name)]
        self.rng.shuffle(candidates)
        root = hvac.Client(
            url=self.stack.vault_addr,
            token=self.stack.root_token(),
            verify=self.stack.verify,
            timeout=10,
        )
        for identity in candidates:
            lease = await asyncio.to_thread(_newest_lease, root, identity.db_role)
            if lease is None:
                continue
            now = time.monotonic()
            await asyncio.to_thread(root.sys.revoke_lease, lease)
            self._record(FaultKind.LEASE_REVOKED, identity.name, now)
            return identity.name
        return None


def _newest_lease(root: hvac.Client, db_role: str) -> str | None:
    """The most recently issued lease of ``database/creds/<db_role>`` (the one in use)."""
    prefix = f"database/creds/{db_role}/"
    try:
        keys = root.sys.list_leases(prefix)["data"]["keys"]
    except hvac.exceptions.InvalidPath:
        return None
    newest: tuple[str, str] | None = None
    for key in keys:
        lease_id = prefix + key
        try:
            issued = str(root.sys.read_lease(lease_id)["data"]["issue_time"])
        except hvac.exceptions.InvalidRequest:
            continue  # expired between list and read
        if newest is None or issued > newest[0]:
            newest = (issued, lease_id)
    return newest[1] if newest else None
