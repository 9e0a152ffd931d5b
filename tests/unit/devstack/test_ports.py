"""Listening ports for the stack's servers: free, distinct, never from the ephemeral range."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from orders.devstack.servers import base


def test_ports_are_below_the_ephemeral_range_free_and_never_handed_out_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    low = 32_768  # Linux's default, whatever this machine's range
    monkeypatch.setattr(base, "ephemeral_low", lambda: low)
    ports = [base.free_port() for _ in range(60)]
    assert len(set(ports)) == len(ports)
    for port in ports:
        assert base.LISTEN_PORTS_FROM <= port < low
        with socket.socket() as s:
            s.bind((base.HOST, port))  # still free: nothing else took it


def test_a_port_in_use_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as held:
        held.bind((base.HOST, 0))
        taken = held.getsockname()[1]
        held.listen()
        first = iter([taken])  # the first pick is the port in use, then random ones
        pick = base.candidate
        monkeypatch.setattr(base, "candidate", lambda high: next(first, None) or pick(high))
        monkeypatch.setattr(base, "ephemeral_low", lambda: 65_000)
        assert base.free_port() != taken
        assert next(first, None) is None  # the port in use was tried


def test_the_range_is_read_from_the_kernel_with_linux_default_otherwise(tmp_path: Path) -> None:
    good, bad = tmp_path / "range", tmp_path / "bad"
    good.write_text("40000\t60999\n")
    bad.write_text("nonsense")
    assert base.ephemeral_low(good) == 40_000
    assert base.ephemeral_low(bad) == 32_768
    assert base.ephemeral_low(tmp_path / "absent") == 32_768


def test_no_room_below_the_range_falls_back_to_the_kernels_pick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(base, "ephemeral_low", lambda: base.LISTEN_PORTS_FROM + 10)
    port = base.free_port()
    with socket.socket() as s:
        s.bind((base.HOST, port))
