"""Headless Debian Chromium for tests: a HOME whose NSS database trusts one CA.

Shared by the codec server's browser tests (UI decoding, two replicas).
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from orders.devstack.state import PROJECT_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CERTUTIL = Path("/usr/bin/certutil")
ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browser_home(root: Path, ca_file: Path | None) -> Path:
    """A HOME for Chromium whose NSS database trusts ``ca_file`` alone (None: trusts nothing).

    Chromium on Linux takes locally trusted roots from ``$HOME/.pki/nssdb``; Debian's
    ``certutil`` (libnss3-tools) writes it. The browser then verifies every server of the
    stack as any client does: chain to the Vault root CA, name, validity.
    """
    home = root / ("trusting" if ca_file else "untrusting")
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    subprocess.run([str(CERTUTIL), "-d", f"sql:{db}", "-N", "--empty-password"], check=True)
    if ca_file is not None:
        subprocess.run(
            [str(CERTUTIL), "-d", f"sql:{db}", "-A", "-t", "C,,", "-n", "orders", "-i", ca_file],
            check=True,
        )
    return home


@asynccontextmanager
async def chromium(home: Path) -> AsyncIterator[Browser]:
    """Headless Debian Chromium with ``home`` as its HOME (and so its NSS database)."""
    for tool in (CHROMIUM, CERTUTIL):
        if not tool.exists():
            pytest.fail(f"{tool} is missing: run `make debs` (Debian's chromium, libnss3-tools)")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(
            executable_path=str(CHROMIUM), args=LAUNCH_ARGS, env={"HOME": str(home)}
        )
        try:
            yield b
        finally:
            await b.close()
