"""Size-based rotation of the dev stack's logs and trace files.

Every process of the stack appends to its log (``logs/<name>.log``) and, for identities,
its trace file (``traces/<identity>.jsonl``) through an ``O_APPEND`` descriptor that it
keeps open for its whole life. The supervisor rotates them the way logrotate's
``copytruncate`` does: copy the file to ``<name>.1<suffix>`` (same owner, same mode), then
truncate it. No writer has to reopen anything: an ``O_APPEND`` write always lands at the
current end, which after the truncation is the start of the emptied file. A batch
written between the copy and the truncation is lost; for a development stack's logs and
traces that is the accepted price of not signalling a dozen processes owned by other users.

The copy keeps the ``.log``/``.jsonl`` suffix so that whatever scans the stack's logs by
suffix (the PII scans of the tests and the chaos run) scans the older part too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from orders import logging as olog
from orders.devstack.state import StackPaths

log = olog.get(__name__)

MAX_BYTES: Final = 64 * 1024 * 1024
"""A log or trace file is rotated once it is larger than this; one older part is kept."""
CHECK_SECONDS: Final = 30.0
"""How often the supervisor looks."""


def older(path: Path) -> Path:
    """Where the older part of ``path`` goes: ``name.1.log`` for ``name.log``."""
    return path.with_name(f"{path.stem}.1{path.suffix}")


def rotate(path: Path, max_bytes: int = MAX_BYTES) -> bool:
    """Copy ``path`` aside and empty it when it is larger than ``max_bytes``.

    Returns:
        Whether it was rotated.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    if st.st_size <= max_bytes:
        return False
    target = older(path)
    partial = target.with_name(target.name + ".partial")
    # Created private, then given the original's owner and mode: a trace file is its
    # identity's own (0600), and its copy must not be anyone else's to read.
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as out, path.open("rb") as src:
        shutil.copyfileobj(src, out)
    os.chown(partial, st.st_uid, st.st_gid)
    os.chmod(partial, st.st_mode & 0o777)
    os.replace(partial, target)
    os.truncate(path, 0)
    log.info("devstack.file.rotated", file=path.name, bytes=st.st_size)
    return True


def files(paths: StackPaths) -> Iterable[Path]:
    """The stack's logs and trace files (not their older parts)."""
    for directory, suffix in ((paths.logs, ".log"), (paths.traces, ".jsonl")):
        for path in sorted(directory.glob(f"*{suffix}")):
            if not path.stem.endswith(".1"):
                yield path


def rotate_all(paths: StackPaths, max_bytes: int = MAX_BYTES) -> int:
    """Rotate every log and trace file over ``max_bytes``; how many were."""
    count = 0
    for path in files(paths):
        # A file that vanished or cannot be copied is tried again at the next check.
        with contextlib.suppress(OSError):
            count += rotate(path, max_bytes)
    return count
