"""The one atomic writer of private files: permissions before content, nothing left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from orders.files import Owner, write_private, write_public


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_private_file_is_owner_only_even_replacing_a_readable_one(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("old")
    path.chmod(0o644)
    write_private(path, "new")
    assert path.read_text() == "new"
    assert _mode(path) == 0o600
    write_private(path, b"\x00bytes")
    assert path.read_bytes() == b"\x00bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret"]  # no temp file left


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    write_private(path, "old")
    with pytest.raises(TypeError):
        write_private(path, 42)  # type: ignore[arg-type]
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]


def test_public_files_are_world_readable(tmp_path: Path) -> None:
    write_public(tmp_path / "ca.pem", "pem")
    assert _mode(tmp_path / "ca.pem") == 0o644


@pytest.mark.skipif(os.geteuid() != 0, reason="handing a file to another user needs root")
def test_a_private_file_can_be_handed_to_its_reader(tmp_path: Path) -> None:
    path = tmp_path / "token"
    write_private(path, "t", owner=Owner(65534, 65534))
    assert (path.stat().st_uid, path.stat().st_gid) == (65534, 65534)
    assert _mode(path) == 0o600
