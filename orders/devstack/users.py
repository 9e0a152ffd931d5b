"""Who each process of the local stack runs as, and the environment it starts with.

Started as root (CI, this project's machines), the supervisor runs every process that acts
as an identity — one worker per identity and the codec server — as that identity's own
system user (``orders-<identity>``, created once with ``useradd --system``), and Postgres as
``orders-pg``. Such a process cannot open the root token, the unseal key, the control socket,
``stack.json`` or another identity's files: they belong to root or to another user, mode 0600
in 0700 directories. Started by anyone else (a developer's laptop), every process runs as
that user: only the environment is scrubbed, and ``orders dev status`` says so.

Every child's environment is built from an allow-list, never by deleting from the
supervisor's: a variable nobody listed here (a ``VAULT_TOKEN`` in the shell that ran
``orders dev up``, ``ORDERS_HOME``, another identity's settings) never reaches a child.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from orders.observability import otel_env
from orders.settings import LeaseTiming

USER_PREFIX: Final = "orders-"
PG_SYSTEM_USER: Final = f"{USER_PREFIX}pg"
"""Unprivileged system user the Postgres server runs as when the stack is started as root."""

RUNTIME_VARIABLES: Final = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "PYTHONPATH",
    "PYTHONDONTWRITEBYTECODE",
)
"""What any child may inherit: how to find programs and modules, locale, time zone."""

TUNING_VARIABLES: Final = (
    *(f"ORDERS_LEASE_{name.upper()}" for name in LeaseTiming.model_fields),
    "ORDERS_LOG_LEVEL",
    "ORDERS_CODEC_OUTAGE_WAIT_SECONDS",
    "ORDERS_SHUTDOWN_GRACE_SECONDS",
    "ORDERS_MAX_CONCURRENT_ACTIVITIES",
    "ORDERS_DB_POOL_SIZE",
    "ORDERS_TOKEN_SECONDS",
    "ORDERS_HEARTBEAT_SECONDS",
    *otel_env.OTEL_VARIABLES,
)
"""Stack-wide tuning an identity's process may inherit: timings and sizes, the same for
every identity, naming none and holding no secret (the test suite shortens retries), and
where spans go (a collector's OTLP endpoint, the sampler; never its headers)."""

SEPARATE_USERS: Final = "own OS user per identity"
SHARED_USER: Final = "one OS user (not root): identities' environments are minimal, files shared"


def separate_users() -> bool:
    """Whether identities get their own OS users here (only root can switch users)."""
    return os.geteuid() == 0


def isolation() -> str:
    """One line for ``orders dev status``: how identities' processes are kept apart."""
    return SEPARATE_USERS if separate_users() else SHARED_USER


def os_user_name(name: str) -> str:
    """The OS user of identity (or server) ``name``: ``orders-<name>``."""
    return f"{USER_PREFIX}{name}"


def system_user(name: str) -> pwd.struct_passwd:
    """The system user ``name``, created (no home, no login shell, own group) if missing.

    Raises:
        RuntimeError: ``useradd`` failed and the user still does not exist.
    """
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    done = subprocess.run(
        ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin",
         name],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    try:
        # Another stack on this machine may have created it meanwhile: that is fine.
        return pwd.getpwnam(name)
    except KeyError:
        raise RuntimeError(f"cannot create system user {name}: {done.stderr.strip()}") from None


def identity_user(name: str) -> pwd.struct_passwd | None:
    """The OS user identity ``name``'s process runs as; None when not root (same user)."""
    return system_user(os_user_name(name)) if separate_users() else None


def runtime_env(home: Path | None = None, source: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment every child starts from: :data:`RUNTIME_VARIABLES` and a HOME.

    Args:
        home: The child's HOME (its own directory when it runs as an identity's user);
            None keeps the supervisor's.
        source: Where the allowed values come from (the supervisor's environment).
    """
    env = {k: source[k] for k in RUNTIME_VARIABLES if k in source}
    env.setdefault("PATH", os.defpath)
    env["HOME"] = str(home) if home is not None else source.get("HOME", "/")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def tuning_env(source: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The stack-wide tuning (:data:`TUNING_VARIABLES`) present in ``source``."""
    return {k: source[k] for k in TUNING_VARIABLES if k in source}
