"""Rotation of the dev stack's logs and trace files (copytruncate)."""

from __future__ import annotations

import os
from pathlib import Path

from orders.devstack import rotation
from orders.devstack.state import StackPaths


def _writer(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)


def test_a_large_file_is_copied_aside_and_its_writer_goes_on_at_the_start(
    tmp_path: Path,
) -> None:
    path = tmp_path / "order-notify.jsonl"
    fd = _writer(path)
    try:
        os.write(fd, b"old\n" * 10)
        if os.getuid() == 0:  # the copy keeps the owner: show it with someone else's file
            os.chown(path, 65534, 65534)
        assert not rotation.rotate(path, max_bytes=100)  # 40 bytes: left alone
        assert rotation.rotate(path, max_bytes=16)
        os.write(fd, b"new\n")  # the same descriptor, never reopened
    finally:
        os.close(fd)
    older = tmp_path / "order-notify.1.jsonl"
    assert older.read_bytes() == b"old\n" * 10
    assert path.read_bytes() == b"new\n"
    assert older.stat().st_mode & 0o777 == 0o600
    assert (older.stat().st_uid, older.stat().st_gid) == (path.stat().st_uid, path.stat().st_gid)
    assert not list(tmp_path.glob("*.partial"))


def test_rotate_all_takes_logs_and_traces_but_not_older_parts(tmp_path: Path) -> None:
    paths = StackPaths(tmp_path)
    paths.ensure()
    big, small = paths.log_file("temporal"), paths.trace_file("order-fulfill")
    big.write_bytes(b"x" * 64)
    small.write_bytes(b"y" * 8)
    rotation.older(big).write_bytes(b"z" * 64)  # an older part is never rotated again
    assert rotation.rotate_all(paths, max_bytes=32) == 1
    assert big.read_bytes() == b""
    assert rotation.older(big).read_bytes() == b"x" * 64
    assert small.read_bytes() == b"y" * 8
    assert not rotation.older(rotation.older(big)).exists()
