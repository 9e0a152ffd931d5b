"""The Temporal UI decodes an order's input through the codec server, in a real browser.

Headless Debian Chromium (``make browser`` installs it), driven by Playwright. The UI of
the dev server has no login, so a person signs in to the codec server, which sends the
browser to OpenBao's own login page (the OIDC provider's authorize route; code flow with
PKCE) and back; the UI is set, in its *Codec Server* dialog as a person would, to send
cross-origin credentials. Signed out, the same UI shows the ciphertext; signed in, the
decoded order. The browser trusts the Vault root CA and nothing else (an NSS database in
its own HOME); without it every server is refused. Screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from playwright.async_api import Error as PlaywrightError
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from orders import client as orders_client
from orders.devstack import people as dev_people
from orders.devstack.state import StackInfo, StackPaths
from orders.models import OrderItem, OrderRequest
from tests.support.browser import ARTIFACTS, browser_home, chromium
from tests.support.stack_codec import NS

pytestmark = pytest.mark.integration

SKU = "SKU-WIDGET"


@pytest.fixture(scope="module")
async def browser(
    stack_paths: StackPaths, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Browser]:
    home = browser_home(tmp_path_factory.mktemp("chromium"), stack_paths.ca_file)
    async with chromium(home) as b:
        yield b


async def test_a_browser_without_the_vault_ca_refuses_every_server(
    stack: StackInfo, tmp_path: Path
) -> None:
    # The same browser, minus the one trusted root: the UI front, the codec server and
    # OpenBao's login page all fail verification (nothing is pinned or ignored).
    assert stack.codec_server_url is not None
    async with chromium(browser_home(tmp_path, None)) as b:
        page = await b.new_page()
        for url in (stack.ui_url, stack.codec_server_url, f"{stack.vault_addr}/ui/"):
            with pytest.raises(PlaywrightError, match="ERR_CERT_AUTHORITY_INVALID"):
                await page.goto(url, wait_until="commit")


@pytest.fixture(scope="module")
async def completed_order(client: Client) -> tuple[str, OrderRequest, str]:
    """A completed order: (workflow id, the order, base64 of its encrypted input)."""
    oid = f"ui-{uuid.uuid4().hex[:12]}"
    order = OrderRequest(
        order_id=oid,
        customer_id=f"cust-ui-{uuid.uuid4().hex[:8]}",
        customer_email=f"{oid}@example.com",
        shipping_address="9 Browser Lane, Testville",
        payment_reference="tok-4242",
        items=(OrderItem(sku=SKU, quantity=1),),
    )
    handle = await orders_client.place(client, order)
    await asyncio.wait_for(handle.result(), timeout=90)
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            raw = event.workflow_execution_started_event_attributes.input.payloads[0].data
            return handle.id, order, base64.b64encode(raw).decode()
    raise AssertionError("no WorkflowExecutionStarted event")


async def use_codec_with_credentials(page: Page, ui_url: str, codec_url: str) -> None:
    """In the UI's Codec Server dialog: this browser's endpoint, with credentials."""
    # Waiting for the dialog's button, not for every asset's "load", keeps this quick.
    await page.goto(f"{ui_url}/namespaces/{NS}/workflows", wait_until="commit")
    await page.locator('[data-testid^="data-encoder-status"]').first.click()
    dialog = page.locator("dialog[open]")
    await dialog.get_by_test_id("use-local-endpoint-input").check(force=True)
    await dialog.get_by_test_id("data-encoder-endpoint-input").fill(codec_url)
    # A switch styled over a visually hidden checkbox: click its label, as a person does.
    await dialog.get_by_text("Include cross-origin credentials").click()
    await expect(dialog.locator("#pass-access-credentials")).to_be_checked()
    await dialog.get_by_test_id("confirm-modal-button").click()
    stored = await page.evaluate(
        "() => ['overrideRemoteCodecConfiguration', 'endpoint', 'includeCredentials']"
        ".map((k) => localStorage.getItem(k))"
    )
    assert stored == ["true", f'"{codec_url}"', "true"], stored


async def sign_in_at_openbao(
    page: Page, stack: StackInfo, paths: StackPaths, user: str, screenshot: bool = True
) -> None:
    """From the codec server's /login to OpenBao's login page (userpass), and back."""
    assert stack.codec_server_url is not None
    assert stack.oidc_issuer is not None
    await page.goto(f"{stack.codec_server_url}/login", wait_until="commit")
    # The provider's authorize route sends a signed-out browser to OpenBao's login page.
    await page.wait_for_url(f"{stack.vault_addr}/ui/vault/auth*")
    method = page.locator('[data-test-select="auth-method"]')
    await method.select_option("userpass")
    await page.locator('input[name="username"]').fill(user)
    await page.locator('input[name="password"]').fill(dev_people.dev_password(paths, user))
    if screenshot:
        await page.screenshot(path=ARTIFACTS / "openbao-login.png")
    await page.locator("#auth-submit").click()
    # OpenBao authorizes, then redirects to the codec server's callback (and on to /login).
    await page.wait_for_url(f"{stack.codec_server_url}/**", timeout=30_000)


async def open_workflow(page: Page, ui_url: str, workflow_id: str) -> int:
    """Open the workflow's page; returns the status of the UI's first decode request."""
    async with page.expect_response(lambda r: "/decode" in r.url, timeout=30_000) as first:
        await page.goto(f"{ui_url}/namespaces/{NS}/workflows/{workflow_id}", wait_until="commit")
    return (await first.value).status


async def test_ui_shows_decoded_input_only_when_signed_in(
    browser: Browser,
    stack: StackInfo,
    stack_paths: StackPaths,
    completed_order: tuple[str, OrderRequest, str],
) -> None:
    workflow_id, order, ciphertext = completed_order
    codec_url = stack.codec_server_url
    assert codec_url is not None
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    # Signed out: the UI asks the codec server, gets 401, and shows the ciphertext.
    anon = await browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = await anon.new_page()
        await use_codec_with_credentials(page, stack.ui_url, codec_url)
        assert await open_workflow(page, stack.ui_url, workflow_id) == 401
        await expect(
            page.locator("#content").get_by_text("Codec Server could not connect")
        ).to_be_visible()
        await expect(page.get_by_text(ciphertext[:32])).to_be_visible()
        await page.screenshot(path=ARTIFACTS / "ui-signed-out.png", full_page=True)
        text = await page.inner_text("body")
        assert order.customer_id not in text
        assert SKU not in text
        ui_settings = await anon.storage_state()  # the same Codec Server settings, reused
    finally:
        await anon.close()

    # Signed in through OpenBao's login page: the same UI shows the decoded order.
    person = await browser.new_context(
        viewport={"width": 1400, "height": 1000}, storage_state=ui_settings
    )
    try:
        page = await person.new_page()
        await sign_in_at_openbao(page, stack, stack_paths, "dev-viewer")
        await expect(page.locator("#signed-in")).to_contain_text("dev-viewer")
        await page.screenshot(path=ARTIFACTS / "codec-signed-in.png")
        [cookie] = [c for c in await person.cookies() if "codec-session" in c["name"]]
        assert cookie["httpOnly"]
        assert cookie["sameSite"] == "Strict"

        assert await open_workflow(page, stack.ui_url, workflow_id) == 200
        await expect(page.get_by_text(order.customer_id).first).to_be_visible(timeout=20_000)
        await page.screenshot(path=ARTIFACTS / "ui-signed-in.png", full_page=True)
        # The input's editor renders only the lines in view; the items come after the sealed
        # fields (long lines, wrapped): scroll to its end to have them rendered.
        await page.get_by_text(order.customer_id).first.click()
        await page.keyboard.press("Control+End")
        await expect(page.get_by_text(SKU).first).to_be_visible()
        assert ciphertext[:32] not in await page.inner_text("body")
    finally:
        await person.close()


async def test_person_in_no_group_is_refused_after_openbao_login(
    browser: Browser, stack: StackInfo, stack_paths: StackPaths
) -> None:
    """OpenBao authenticates the person but refuses the authorization: the codec says 403."""
    context = await browser.new_context()
    try:
        page = await context.new_page()
        statuses: list[int] = []
        page.on(
            "response",
            lambda r: statuses.append(r.status) if "/oidc/callback" in r.url else None,
        )
        await sign_in_at_openbao(page, stack, stack_paths, "dev-no-group", screenshot=False)
        await expect(page.locator("#message")).to_contain_text("no access")
        assert statuses == [403]
        assert not [c for c in await context.cookies() if "codec-session" in c["name"]]
    finally:
        await context.close()
