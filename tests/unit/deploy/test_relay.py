"""orders.deploy.relay: bytes both ways to its one target; a dead target closes the caller."""

from __future__ import annotations

import asyncio
import socket

import pytest

from orders.deploy import relay


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_relays_both_ways_to_its_target() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(b"echo:" + data)
            await writer.drain()
        writer.close()

    target = await asyncio.start_server(echo, "127.0.0.1", 0)
    target_port = target.sockets[0].getsockname()[1]
    server = await relay.serve(("127.0.0.1", 0), ("127.0.0.1", target_port))
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(1024), 5) == b"echo:hello"
        writer.close()
    finally:
        server.close()
        target.close()


async def test_unreachable_target_closes_the_connection() -> None:
    server = await relay.serve(("127.0.0.1", 0), ("127.0.0.1", _free_port()))
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(1024), 15) == b""
        writer.close()
    finally:
        server.close()


def test_addresses_are_host_and_port() -> None:
    assert relay._split("identity:8200") == ("identity", 8200)
    with pytest.raises(Exception, match="HOST:PORT"):
        relay._split("identity")


def test_each_listener_needs_its_target() -> None:
    with pytest.raises(SystemExit):
        relay.main(["--listen", "127.0.0.1:1", "--listen", "127.0.0.1:2", "--to", "a:1"])
