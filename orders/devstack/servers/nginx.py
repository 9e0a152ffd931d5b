"""Debian's nginx as the TLS fronts and bridges of the local stack."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from orders.devstack.procs import Proc
from orders.devstack.state import StackPaths
from orders.files import write_private

NGINX: Final = Path("/usr/sbin/nginx")
NGINX_STREAM: Final = Path("/usr/lib/nginx/modules/ngx_stream_module.so")


def nginx_config(
    paths: StackPaths,
    name: str,
    state_dir: str,
    config: str,
    module: Path | None = None,
    worker_user: str | None = None,
) -> Path:
    """Write a config for Debian's nginx: one master and one worker, in the foreground.

    Args:
        paths: The stack's paths.
        name: Process name; its errors go to the log ``<name>``.
        state_dir: Directory under ``.orders/dev`` for the pid file, temp files and config.
        config: The ``http {…}`` or ``stream {…}`` block; relative paths in it are
            relative to the state directory (nginx's prefix, ``-p``).
        module: A dynamic module to load first (Debian ships ``stream`` as one).
        worker_user: The worker's user (nginx's default: an unprivileged one).

    Returns:
        The config file (``nginx.conf`` in the state directory).

    Raises:
        RuntimeError: nginx or the module is not installed.
    """
    for needed in (NGINX, module):
        if needed is not None and not needed.exists():
            raise RuntimeError(f"{needed} is missing: run `make debs` (Debian's nginx packages)")
    root = paths.dev / state_dir
    root.mkdir(exist_ok=True)
    root.chmod(0o711)  # nginx's unprivileged worker uses the temp directories below
    log_file = paths.log_file(name)
    head = f"load_module {module};\n" if module is not None else ""
    head += f"user {worker_user};\n" if worker_user is not None else ""
    head += f"""daemon off;
master_process on;
worker_processes 1;
pid {root / "nginx.pid"};
error_log {log_file} warn;
events {{ worker_connections 4096; }}
"""
    cfg = root / "nginx.conf"
    write_private(cfg, head + config)
    return cfg


def nginx_front(
    paths: StackPaths,
    name: str,
    state_dir: str,
    config: str,
    module: Path | None = None,
    worker_user: str | None = None,
) -> Proc:
    """Debian's nginx as a TLS front (see :func:`nginx_config`), as a supervised process."""
    cfg = nginx_config(paths, name, state_dir, config, module, worker_user)
    return Proc(
        name=name,
        argv=[str(NGINX), "-p", str(cfg.parent), "-c", str(cfg), "-e", str(paths.log_file(name))],
        log_path=paths.log_file(f"{name}-stdout"),
    )
