"""The processes that act as an identity: one worker per identity, and the codec server.

Each runs as its identity's OS user where the machine allows (:mod:`orders.devstack.users`),
in a home of its own (``.orders/dev/homes/<identity>``, 0700, owned by that user) that holds
everything it reads or writes of its own: its projected token, a copy of its
ServiceAccount's TokenRequest credential, its readiness marker and its published client
certificate. What it shares with others is public (the Vault root CA, 0644). Its
environment is its identity's ``ORDERS_*`` settings, the stack-wide tuning and what Python
needs to run — nothing else of the supervisor's.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path
from typing import Final

from orders.contract import identities
from orders.devstack.identity_env import worker_env
from orders.devstack.procs import Proc, make_traversable
from orders.devstack.servers import HOST
from orders.devstack.state import StackInfo, StackPaths
from orders.devstack.users import identity_user, runtime_env, tuning_env
from orders.files import Owner, write_private

TOKEN_FILE: Final = "token.jwt"  # noqa: S105 - a file's name, not a secret
CREDENTIAL_FILE: Final = "serviceaccount.token"

WARM_MODULES: Final = ("workers.build", "orders.cli", "orders.codec_server.server")
"""What identities' processes import: compiled once by root, read by every identity."""


def warm_bytecode() -> subprocess.Popen[bytes]:
    """Start compiling the modules identities import into the (root-owned) bytecode cache.

    An identity's user cannot write ``__pycache__`` in the virtualenv, so without this each
    worker would compile every module it imports at every start (~1.5 s of CPU each).
    Runs while the servers boot; wait for it before starting identities' processes.
    """
    env = runtime_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the point is to write it
    code = "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]"
    return subprocess.Popen(
        [sys.executable, "-c", code, *WARM_MODULES],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def make_python_reachable(paths: StackPaths) -> None:
    """Let identities' users reach the interpreter, its standard library and their homes.

    Only the traverse bit is added, and only where it is missing (a pyenv Python under a
    0700 ``/root``, for instance): what is readable below stays as its owner set it.
    """
    for path in (Path(sys.executable).resolve(), Path(sys.base_prefix) / "lib", paths.homes):
        make_traversable(path)


def prepare_home(paths: StackPaths, identity: identities.Identity) -> pwd.struct_passwd | None:
    """Create ``identity``'s home, owned by its user, with its TokenRequest credential.

    Returns:
        The user its process runs as (None: the supervisor's own, when not root).
    """
    user = identity_user(identity.name)
    owner = Owner(user.pw_uid, user.pw_gid) if user is not None else None
    home = paths.process_home(identity.name)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    if owner is not None:
        os.chown(home, *owner)
    home.chmod(0o700)
    # A copy, not the identity endpoint's file: its state directory stays root's alone.
    credential = paths.identity / "clients" / f"{identity.service_account}.token"
    write_private(home / CREDENTIAL_FILE, credential.read_bytes(), owner=owner)
    paths.ready_marker(identity.name).unlink(missing_ok=True)
    # Its spans: appended by its processes, readable by root (tests) and by no identity.
    trace_file = paths.trace_file(identity.name)
    if not trace_file.exists():
        write_private(trace_file, b"", owner=owner)
    return user


def identity_env(
    info: StackInfo, paths: StackPaths, identity: identities.Identity
) -> dict[str, str]:
    """``identity``'s settings with its own files (in its home), plus the stack-wide tuning."""
    home = paths.process_home(identity.name)
    ports = {
        "ORDERS_METRICS_PORT": info.metrics_ports.get(identity.name),
        "ORDERS_SDK_METRICS_PORT": info.sdk_metrics_ports.get(identity.name),
    }
    return {
        **tuning_env(),
        **worker_env(info, paths, identity),
        "ORDERS_TOKEN_FILE": str(home / TOKEN_FILE),
        "ORDERS_K8S_CLIENT_TOKEN_FILE": str(home / CREDENTIAL_FILE),
        **{name: str(port) for name, port in ports.items() if port is not None},
    }


def worker(info: StackInfo, paths: StackPaths, identity: identities.Identity) -> Proc:
    """``python -m workers <identity>`` as ``identity``'s user, in its home."""
    user = prepare_home(paths, identity)
    env = identity_env(info, paths, identity) | {
        "ORDERS_READY_FILE": str(paths.ready_marker(identity.name)),
        "ORDERS_CLIENT_CERT_FILE": str(paths.client_cert(identity.name)),
    }
    return Proc(
        name=identity.name,
        argv=[sys.executable, "-m", "workers", identity.name],
        log_path=paths.log_file(identity.name),
        env=env,
        user=user,
        home=paths.process_home(identity.name),
    )


def codec_server(info: StackInfo, paths: StackPaths, port: int) -> Proc:
    """``orders codec-server`` as identity ``codec-server``, allowing the UI's origin.

    Its TLS key is handed to its user (root keeps reading it; nobody else can).
    """
    ident = identities.CODEC_SERVER
    user = prepare_home(paths, ident)
    cert_file, key_file = paths.server_cert("codec-server")
    if user is not None:
        for path in (cert_file, key_file):
            os.chown(path, user.pw_uid, user.pw_gid)
    env = identity_env(info, paths, ident) | {
        "ORDERS_CODEC_HOST": HOST,
        "ORDERS_CODEC_PORT": str(port),
        "ORDERS_CODEC_PUBLIC_URL": str(info.codec_server_url),
        "ORDERS_CODEC_UI_ORIGIN": info.ui_url,
        "ORDERS_CODEC_TLS_CERT": str(cert_file),
        "ORDERS_CODEC_TLS_KEY": str(key_file),
        "ORDERS_CODEC_CLIENT_ID": str(info.codec_client_id),
    }
    return Proc(
        name=ident.name,
        argv=[sys.executable, "-m", "orders", "codec-server"],
        log_path=paths.log_file(ident.name),
        env=env,
        user=user,
        home=paths.process_home(ident.name),
    )
