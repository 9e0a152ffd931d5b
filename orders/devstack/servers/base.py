"""What every server of the local stack shares: loopback ports, readiness polling."""

from __future__ import annotations

import asyncio
import contextlib
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


def free_port() -> int:
    """A currently free TCP port on loopback."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


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
