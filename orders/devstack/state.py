"""Where the local stack keeps its state, and the ``stack.json`` tools and tests read.

Everything lives under ``.orders/`` (git-ignored). Secrets are files with mode 0600; the
directories on the way are 0711 so the unprivileged users (Postgres's, each identity's) can
traverse to their own directory without being able to list anything.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from orders.files import write_private

PROJECT_ROOT: Final = Path(__file__).resolve().parents[2]


def orders_home() -> Path:
    """``$ORDERS_HOME`` or ``<project>/.orders``."""
    env = os.environ.get("ORDERS_HOME")
    return Path(env).resolve() if env else PROJECT_ROOT / ".orders"


@dataclass(frozen=True)
class StackPaths:
    """File layout of one local stack."""

    home: Path

    @classmethod
    def default(cls) -> StackPaths:
        """Paths under ``orders_home()``."""
        return cls(orders_home())

    @property
    def dev(self) -> Path:
        """The dev stack's own directory."""
        return self.home / "dev"

    @property
    def stack_json(self) -> Path:
        """Every endpoint of the running stack."""
        return self.dev / "stack.json"

    @property
    def status_json(self) -> Path:
        """State, pids and restarts, written by the supervisor."""
        return self.dev / "status.json"

    @property
    def logs(self) -> Path:
        """One log file per process."""
        return self.dev / "logs"

    @property
    def run(self) -> Path:
        """Pid file, control socket and the bridge's sockets (root only)."""
        return self.dev / "run"

    @property
    def homes(self) -> Path:
        """One directory per process acting as an identity (traverse-only for others)."""
        return self.dev / "homes"

    def process_home(self, name: str) -> Path:
        """Home of identity ``name``'s process: owned by its OS user, mode 0700.

        Everything that process reads or writes of its own lives here (its projected token,
        its ServiceAccount credential, its readiness marker, its published certificate), so
        no other identity's process can open it.
        """
        return self.homes / name

    @property
    def traces(self) -> Path:
        """Spans, one JSON-lines file per identity (traverse-only for others)."""
        return self.dev / "traces"

    def trace_file(self, name: str) -> Path:
        """Where identity ``name``'s processes append their spans (0600, its OS user's)."""
        return self.traces / f"{name}.jsonl"

    def ready_marker(self, name: str) -> Path:
        """Written by identity ``name``'s worker once it polls its queue."""
        return self.process_home(name) / "ready"

    @property
    def secrets(self) -> Path:
        """Dev-only secrets (0600 files)."""
        return self.dev / "secrets"

    @property
    def tokens(self) -> Path:
        """Projected ServiceAccount tokens, one file per identity."""
        return self.dev / "tokens"

    @property
    def pgdata(self) -> Path:
        """Postgres data directory (owned by the Postgres system user)."""
        return self.dev / "postgres"

    @property
    def vault(self) -> Path:
        """OpenBao configuration and raft storage."""
        return self.dev / "openbao"

    @property
    def identity(self) -> Path:
        """Identity endpoint keys, CA and bootstrap credentials."""
        return self.dev / "identity"

    @property
    def tls(self) -> Path:
        """Server certificates and keys from Vault PKI, and ``ca.pem`` (the Vault root CA)."""
        return self.dev / "tls"

    @property
    def ca_file(self) -> Path:
        """The one trust anchor of every client of the stack: Vault PKI's root CA."""
        return self.tls / "ca.pem"

    def server_cert(self, name: str) -> tuple[Path, Path]:
        """Certificate (full chain) and key files of server ``name``."""
        return self.tls / f"{name}.crt", self.tls / f"{name}.key"

    def client_cert(self, identity: str) -> Path:
        """Where ``identity``'s worker publishes its current client certificate (no key)."""
        return self.process_home(identity) / "client.crt"

    def certificates(self) -> dict[str, Path]:
        """Every certificate file of the stack, by display name."""
        found = {"root CA": self.ca_file}
        found |= {f"server {p.stem}": p for p in sorted(self.tls.glob("*.crt"))}
        found |= {f"client {p.parent.name}": p for p in sorted(self.homes.glob("*/client.crt"))}
        return {name: path for name, path in found.items() if path.exists()}

    @property
    def temporal_db(self) -> Path:
        """Temporal dev server SQLite file."""
        return self.dev / "temporal.db"

    @property
    def supervisor_pid(self) -> Path:
        """Pid file of the supervisor."""
        return self.run / "supervisor.pid"

    @property
    def control_socket(self) -> Path:
        """Unix socket of the supervisor's control channel (owner-only, under ``run/``)."""
        return self.run / "control.sock"

    def token_file(self, identity: str) -> Path:
        """Projected token file of ``identity``."""
        return self.tokens / f"{identity}.jwt"

    def log_file(self, name: str) -> Path:
        """Log of process ``name``."""
        return self.logs / f"{name}.log"

    def ensure(self) -> None:
        """Create the directories with traverse-only permissions for others."""
        dirs = (self.home, self.dev, self.logs, self.run, self.secrets, self.tokens, self.tls)
        for d in (*dirs, self.homes, self.traces):
            d.mkdir(parents=True, exist_ok=True)
        # Traversable: each identity's process reaches its own home, its trace file and the
        # root CA.
        for d in (self.home, self.dev, self.homes, self.traces):
            d.chmod(0o711)
        for d in (self.logs, self.run, self.secrets, self.tokens):
            d.chmod(0o700)
        # Traversable: identities read the root CA (0644) in here, the codec server its key.
        self.tls.chmod(0o711)

    def secret(self, name: str, *, nbytes: int = 24) -> str:
        """Read secret ``name``, generating it (mode 0600) the first time."""
        path = self.secrets / name
        if not path.exists():
            write_private(path, secrets.token_urlsafe(nbytes))
        return path.read_text().strip()


class StackInfo(BaseModel):
    """``.orders/dev/stack.json``: every endpoint of the running stack."""

    model_config = ConfigDict(extra="allow")

    temporal_address: str
    namespace: str
    ui_url: str
    vault_addr: str
    vault_root_token_file: str
    postgres_admin_dsn: str
    identity_endpoint: str
    identity_ca_file: str
    token_files: dict[str, str]
    postgres_host: str
    postgres_port: int
    database: str
    codec_server_url: str | None = None
    ca_file: str | None = None
    """Vault PKI root CA: every client verifies every server of the stack against it."""
    temporal_server_name: str | None = None
    """TLS server name clients verify on the Temporal frontend (None: plaintext)."""

    @property
    def verify(self) -> str | bool:
        """``verify=`` for httpx/hvac clients of this stack."""
        return self.ca_file or True

    oidc_issuer: str | None = None
    """Issuer of people's ID tokens (OpenBao's ``orders`` OIDC provider)."""
    codec_client_id: str | None = None
    """The codec server's OIDC client id (its tokens' audience; public, PKCE)."""
    temporal_client_id: str | None = None
    """The ``temporal-cli`` OIDC client id: the audience of persons' tokens for Temporal
    (the persons' port); the codec server's tokens are refused there."""
    temporal_people_address: str | None = None
    """The authorization front's port for persons: TLS and their OIDC token, no certificate
    (``temporal_address`` is the identities' port, mTLS)."""

    prometheus_url: str | None = None
    """The stack's Prometheus (HTTP API and UI), scraping every process below."""
    metrics_ports: dict[str, int] = {}
    """Loopback port of each identity process's own ``/metrics`` (workers, codec server)."""
    sdk_metrics_ports: dict[str, int] = {}
    """Loopback port of each worker's Temporal SDK runtime ``/metrics``."""
    front_metrics_url: str | None = None
    """The authorization front's ``/metrics`` (refused calls)."""
    temporal_metrics_url: str | None = None
    """The Temporal dev server's ``/metrics`` (through the UI front; fixed port inside its
    network namespace, :data:`orders.devstack.servers.temporal.METRICS_PORT`)."""

    @classmethod
    def load(cls, paths: StackPaths) -> StackInfo:
        """Read stack.json (raises FileNotFoundError when the stack never started)."""
        return cls.model_validate_json(paths.stack_json.read_text())

    def save(self, paths: StackPaths) -> None:
        """Write stack.json (0600: it holds the admin DSN)."""
        write_private(paths.stack_json, self.model_dump_json(indent=2))

    def root_token(self) -> str:
        """The dev root token (for the stack's own setup and for tests' admin checks)."""
        return Path(self.vault_root_token_file).read_text().strip()


class Status(BaseModel):
    """``status.json``, written by the supervisor: state, processes, restarts, final report."""

    state: str = "starting"
    detail: str = ""
    isolation: str = ""
    """How identities' processes are kept apart on this machine (own OS users or not)."""
    supervisor_pid: int | None = None
    processes: dict[str, int] = {}
    restarts: dict[str, int] = {}
    report: dict[str, Any] = {}

    @classmethod
    def load(cls, paths: StackPaths) -> Status | None:
        """The last status, or None."""
        try:
            return cls.model_validate(json.loads(paths.status_json.read_text()))
        except (FileNotFoundError, ValueError):
            return None

    def save(self, paths: StackPaths) -> None:
        """Write status.json atomically."""
        write_private(paths.status_json, self.model_dump_json(indent=2))
