"""Atomic file writes with their permissions set before any byte lands.

Every private file the project writes (keys, tokens, dev secrets, ``stack.json``) goes
through :func:`write_private`: the content is written to a temporary file in the same
directory, created mode 0600 (and, if asked, handed to its owner) before anything is
written, flushed to disk, then renamed over the target. Readers see the old file or the
new one, never a partial one, and never a moment where the file is readable by others.
Security code and the dev stack both use it, so it depends on nothing of either.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Final, NamedTuple

PRIVATE: Final = 0o600
GROUP_READ: Final = 0o640
PUBLIC: Final = 0o644


class Owner(NamedTuple):
    """Numeric owner a written file is handed to (root hands a worker its own files)."""

    uid: int
    gid: int


def write_private(path: Path, data: str | bytes, *, owner: Owner | None = None) -> None:
    """Replace ``path`` with ``data`` atomically, readable by its owner only (0600).

    Args:
        path: The file to write; its directory must exist.
        data: Text (UTF-8) or bytes.
        owner: Hand the file to this uid/gid (needs root); None keeps the writer's.
    """
    _write(path, data, PRIVATE, owner)


def write_secret(path: Path, data: str | bytes, *, gid: int | None) -> None:
    """Replace ``path`` with a secret: 0600, or 0640 with group ``gid`` when one is given.

    Group read is only for a server that reads its key as another user of its own group
    (a container running as a fixed uid; the server then copies it 0600 before it starts).
    A secret is never world-readable.
    """
    if gid is None:
        _write(path, data, PRIVATE, None)
    else:
        _write(path, data, GROUP_READ, Owner(-1, gid))  # -1: the owner stays the writer


def write_public(path: Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` atomically, readable by everyone (0644).

    Only for what is public by nature (CA certificates every process must trust).
    """
    _write(path, data, PUBLIC, None)


def _write(path: Path, data: str | bytes, mode: int, owner: Owner | None) -> None:
    raw = data.encode() if isinstance(data, str) else data
    # mkstemp creates the file 0600 and with a name nobody can predict or pre-create.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if owner is not None:
            os.fchown(fd, owner.uid, owner.gid)
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fd = -1
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
