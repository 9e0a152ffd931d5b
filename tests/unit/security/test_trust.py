"""httpx trusts exactly the CA file it is given, without the deprecated ``verify=<str>``."""

from __future__ import annotations

import asyncio
import ssl
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from orders.devstack import tls
from orders.security.trust import httpx_verify


@pytest.fixture
async def https_url(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """A one-line HTTPS server on loopback, and the CA file its certificate chains to."""
    cert_file, key_file, ca_file = tmp_path / "s.crt", tmp_path / "s.key", tmp_path / "ca.pem"
    tls.bootstrap_server_cert(cert_file, key_file, ca_file)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_file, key_file)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=ctx)
    async with server:
        yield f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/", ca_file


@pytest.mark.parametrize("value", [True, None])
def test_no_ca_file_keeps_the_default_trust(value: bool | None) -> None:
    assert httpx_verify(value) is True


def test_false_stays_false() -> None:
    assert httpx_verify(False) is False


@pytest.mark.parametrize("as_str", [True, False], ids=["str", "path"])
async def test_the_named_ca_is_trusted_without_a_deprecation_warning(
    https_url: tuple[str, Path], as_str: bool
) -> None:
    url, ca_file = https_url
    verify = httpx_verify(str(ca_file) if as_str else ca_file)
    assert isinstance(verify, ssl.SSLContext)
    assert verify.check_hostname
    assert verify.verify_mode == ssl.CERT_REQUIRED
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        async with httpx.AsyncClient(verify=verify, timeout=5) as http:
            assert (await http.get(url)).text == "ok"


async def test_another_ca_is_not_trusted(https_url: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = https_url
    other = tmp_path / "other"
    other.mkdir()
    tls.bootstrap_server_cert(other / "s.crt", other / "s.key", other / "ca.pem")
    async with httpx.AsyncClient(verify=httpx_verify(other / "ca.pem"), timeout=5) as http:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.get(url)
