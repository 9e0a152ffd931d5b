"""What every server of the local stack shares: loopback ports, readiness polling."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from orders import logging as olog
from orders.devstack.procs import Proc
from orders.security.trust import httpx_verify

log = olog.get(__name__)

HOST = "127.0.0.1"
Ready = Callable[[], Awaitable[bool]]
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LISTEN_PORTS_FROM = 20_000
"""Listening ports are picked from here up to the kernel's ephemeral range."""
_handed_out: set[int] = set()


def ephemeral_low(path: Path = EPHEMERAL_RANGE) -> int:
    """The first port the kernel hands to outgoing connections (Linux's default: 32768)."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def candidate(high: int) -> int:
    """A port to try, at random from :data:`LISTEN_PORTS_FROM` up to ``high`` (excluded)."""
    return LISTEN_PORTS_FROM + secrets.randbelow(high - LISTEN_PORTS_FROM)


def free_port(tries: int = 200) -> int:
    """A free TCP port on loopback for a server to listen on, below the ephemeral range.

    ``bind(0)`` would answer with an ephemeral port: the range every outgoing connection
    takes its local port from. Between this pick and the server's own bind, any process's
    connection could take it (seen: a worker's SDK metrics endpoint failing at start-up with
    "Address already in use" while the other workers dialled Vault and Postgres). A port
    below the range is never taken by an outgoing connection, and one this process handed
    out is not handed out again. Falls back to ``bind(0)`` when the range leaves no room
    below it.
    """
    high = ephemeral_low()
    if high - LISTEN_PORTS_FROM >= 1_000:
        for _ in range(tries):
            port = candidate(high)
            if port in _handed_out:
                continue
            with socket.socket() as s:
                try:
                    s.bind((HOST, port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port
    with socket.socket() as s:
        s.bind((HOST, 0))
        picked: int = s.getsockname()[1]
        _handed_out.add(picked)
        return picked


async def wait_ready(name: str, check: Ready, proc: Proc, timeout: float = 60.0) -> None:
    """Poll ``check`` until it succeeds; fail early if ``proc`` died.

    Raises:
        RuntimeError: With the tail of the process log when it died or timed out.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{name} exited during start-up:\n{tail(proc.log_path)}")
        try:
            if await check():
                log.info("server.ready", server=name)
                return
        except Exception as exc:  # not up yet
            log.debug("server.not_ready", server=name, error=type(exc).__name__)
        await asyncio.sleep(0.3)
    raise RuntimeError(f"{name} not ready after {timeout:.0f}s:\n{tail(proc.log_path)}")


def tail(path: Path, lines: int = 25) -> str:
    """Last lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def http_ok(url: str, verify: str | Path) -> Ready:
    """GET ``url`` answers 200, over TLS with a certificate the CA file ``verify`` accepts."""

    async def check() -> bool:
        async with httpx.AsyncClient(timeout=2, verify=httpx_verify(verify)) as http:
            return (await http.get(url)).status_code == 200

    return check


def tls_ready(address: str, ca_file: Path, server_name: str) -> Ready:
    """A TLS handshake with ``address`` verifies against ``ca_file`` for ``server_name``."""

    async def check() -> bool:
        host, port = address.rsplit(":", 1)
        ctx = ssl.create_default_context(cafile=str(ca_file))
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, int(port), ssl=ctx, server_hostname=server_name), 2
        )
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        return True

    return check
