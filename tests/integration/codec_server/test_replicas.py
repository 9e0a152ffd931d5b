"""Two codec server replicas behind one front: any step of a login on either (issue 21).

Two more ``orders codec-server`` processes (identity ``codec-server``, the same settings,
one public URL) sit behind a TCP front that hands each new connection to the replica the
test names and cuts the open ones when it switches, so every step provably reaches the
replica meant for it; a front that balanced at random could keep a browser's connection on
one replica and pass without proving anything. TLS goes through untouched: the browser
verifies the replicas' own certificate. A headless Chromium starts the login on replica A,
signs in at the provider, completes the callback on replica B, decodes through each, and
still does after both are restarted. With per-process state (a random cookie key per
process) the callback on B fails with 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from playwright.async_api import Browser, Page
from temporalio.api.common.v1 import Payloads

from orders.devstack import identity_procs
from orders.devstack import people as dev_people
from orders.devstack.procs import Proc
from orders.devstack.servers import free_port
from orders.devstack.state import StackInfo, StackPaths
from orders.security.trust import httpx_verify
from orders.vault import people as vault_people
from tests.support import stack as support
from tests.support.browser import browser_home, chromium
from tests.support.stack_codec import NS, Sealer
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration


class SwitchingFront:
    """A TCP front on 127.0.0.1: new connections go to the chosen backend port.

    Switching cuts every open connection, so the browser's next request opens a new one
    and reaches the newly chosen backend.
    """

    def __init__(self, backends: dict[str, int]) -> None:
        self.backends = backends
        self.active = next(iter(backends))
        self.port = free_port()
        self.served: list[str] = []
        self._open: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    def use(self, name: str) -> None:
        self.active = name
        for writer in list(self._open):
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        name = self.active
        self.served.append(name)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.backends[name])
        except OSError:
            writer.close()
            return
        self._open |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._open -= {writer, up_writer}

    async def __aenter__(self) -> SwitchingFront:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self.use(self.active)
        self._server.close()
        await self._server.wait_closed()


@contextlib.contextmanager
def callback_registered(stack: StackInfo, url: str) -> Iterator[None]:
    """``url`` + the callback path as one more redirect URI of the codec's OIDC client."""
    vault = support.vault(stack, stack.root_token())
    path = f"identity/oidc/client/{vault_people.CODEC_CLIENT}"
    before = vault.read(path)["data"]["redirect_uris"]
    callback = url + vault_people.CODEC_CALLBACK_PATH
    vault.write_data(path, data={"redirect_uris": [*before, callback]})
    try:
        yield
    finally:
        vault.write_data(path, data={"redirect_uris": before})


def replica(stack: StackInfo, paths: StackPaths, name: str, port: int, public: str) -> Proc:
    """One more codec server process, exactly as the stack starts its own but for the URL."""
    proc = identity_procs.codec_server(stack, paths, port)
    # Its own metrics port: the stack's codec server holds the one in its settings.
    env = dict(proc.env) | {
        "ORDERS_CODEC_PUBLIC_URL": public,
        "ORDERS_METRICS_PORT": str(free_port()),
    }
    return dataclasses.replace(proc, name=name, env=env, log_path=paths.log_file(name))


async def all_healthy(stack: StackInfo, ports: dict[str, int]) -> None:
    """Wait until every replica answers ``/healthz`` (its Vault session and cookie key)."""
    for port in ports.values():

        async def check(port: int = port) -> bool:
            return await healthy(stack, port)

        await wait_for(check, timeout=60)


async def healthy(stack: StackInfo, port: int) -> bool:
    async with httpx.AsyncClient(timeout=2, verify=httpx_verify(stack.verify)) as http:
        try:
            return (await http.get(f"https://127.0.0.1:{port}/healthz")).status_code == 200
        except httpx.HTTPError:
            return False


@contextlib.asynccontextmanager
async def replicas(
    stack: StackInfo, paths: StackPaths, ports: dict[str, int], public: str
) -> AsyncIterator[dict[str, Proc]]:
    procs = {name: replica(stack, paths, name, port, public) for name, port in ports.items()}
    try:
        for proc in procs.values():
            proc.start()
        await all_healthy(stack, ports)
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()


async def decode_in_page(page: Page, public: str, body: str) -> tuple[int, str]:
    """``GET /session`` in the browser, then ``POST /decode`` from that (same-origin) page.

    The session cookie goes along both times. ``/session`` is JSON, so no page policy
    (the HTML pages' CSP forbids scripts' requests) stands in the way of the fetch.
    """
    session = await page.goto(f"{public}/session")
    assert session is not None
    assert session.status == 200, await session.text()
    assert (await session.json())["username"] == "dev-viewer"
    # Once more if the front cut the connection under the request: a switch (like a
    # rollout) drops pooled connections, and a browser never resends a POST by itself.
    result: list[object] = await page.evaluate(
        """async ([body, ns]) => {
            const send = () => fetch('/decode', {method: 'POST', body,
                headers: {'Content-Type': 'application/json', 'X-Namespace': ns}});
            let r;
            try { r = await send(); } catch (e) { r = await send(); }
            return [r.status, await r.text()];
        }""",
        [body, NS],
    )
    return int(str(result[0])), str(result[1])


async def test_login_on_one_replica_completes_on_the_other_and_survives_restarts(
    stack: StackInfo,
    stack_paths: StackPaths,
    encrypt: Sealer,
    tmp_path: Path,
) -> None:
    sealed = await encrypt({"replicas": "both"}, NS, "wf-replicas")
    body = json_format.MessageToJson(Payloads(payloads=[sealed]))
    ports = {"codec-replica-a": free_port(), "codec-replica-b": free_port()}
    a, b = ports
    async with SwitchingFront(ports) as front:
        public = f"https://127.0.0.1:{front.port}"
        home = browser_home(tmp_path, stack_paths.ca_file)
        with callback_registered(stack, public):
            async with replicas(stack, stack_paths, ports, public) as procs, chromium(home) as br:
                page = await signed_in(br, stack, stack_paths, front, public, a, b)
                for name in (a, b):
                    front.use(name)
                    status, text = await decode_in_page(page, public, body)
                    assert status == 200, (name, text)
                    assert "eyJyZXBsaWNhcyI6ICJib3RoIn0=" in text  # {"replicas": "both"}
                    assert front.served[-1] == name
                # A rollout: both replicas stop and start again; the browser keeps its session.
                for proc in procs.values():
                    proc.stop()
                    proc.restart = True
                    proc.start()
                await all_healthy(stack, ports)
                for name in (b, a):
                    front.use(name)
                    status, text = await decode_in_page(page, public, body)
                    assert status == 200, (name, text)
    assert {a, b} <= set(front.served)


async def signed_in(
    br: Browser,
    stack: StackInfo,
    paths: StackPaths,
    front: SwitchingFront,
    public: str,
    first: str,
    second: str,
) -> Page:
    """Start the login on ``first``, complete its callback on ``second``; the page."""
    page = await (await br.new_context()).new_page()
    front.use(first)
    await page.goto(f"{public}/login", wait_until="commit")
    await page.wait_for_url(f"{stack.vault_addr}/ui/vault/auth*")
    front.use(second)  # the callback can only reach the other replica
    served_before = len(front.served)
    await page.locator('[data-test-select="auth-method"]').select_option("userpass")
    await page.locator('input[name="username"]').fill("dev-viewer")
    await page.locator('input[name="password"]').fill(dev_people.dev_password(paths, "dev-viewer"))
    await page.locator("#auth-submit").click()
    await page.wait_for_url(f"{public}/**", timeout=30_000)
    assert page.url.startswith(f"{public}/login"), page.url
    assert "dev-viewer" in await page.locator("#signed-in").inner_text()
    assert set(front.served[served_before:]) == {second}
    return page
