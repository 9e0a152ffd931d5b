"""The target file: one deployment the checks run against (JSON or YAML, validated).

``orders verify`` also accepts a dev stack's ``stack.json`` directly: :func:`load` sees
its fields and derives the target (:func:`from_stack`), with the dev stack's identity
endpoint playing the kubelet for each identity, as the integration tests do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orders.contract import identities


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TemporalTarget(_Strict):
    """Temporal as identities reach it: the authorization front (mTLS)."""

    address: str
    """``host:port`` of the front's identities' port."""
    namespace: str = identities.TEMPORAL_NAMESPACE
    ca_file: Path
    """CA the front's certificate chains to (Vault PKI's root)."""
    server_name: str
    """Name on the front's certificate."""
    front_token_key_file: Path | None = None
    """The front's task-token MAC key, when the operator holds it: adds the probes
    "answer a task handed to another identity" (without it they are left out, said so)."""


class VaultTarget(_Strict):
    """OpenBao (or Vault)."""

    address: str
    ca_file: Path | None = None


class PostgresTarget(_Strict):
    """The application database, as workers reach it (direct TLS when ``ca_file`` is set)."""

    host: str
    port: int
    database: str = identities.DB_NAME
    ca_file: Path | None = None


class CodecTarget(_Strict):
    """The codec server and the one browser origin it must trust (the Temporal UI)."""

    url: str
    ui_origin: str
    client_id: str
    """Its OIDC client id: the audience of people's tokens it accepts."""


class DevstackTokens(_Strict):
    """Tokens from a dev stack's identity endpoint (TokenRequest, as its kubelet does)."""

    source: Literal["devstack"] = "devstack"
    home: Path
    """The stack's ``ORDERS_HOME`` (the directory holding ``dev/stack.json``)."""


class KubectlTokens(_Strict):
    """Tokens from a real apiserver: ``kubectl create token`` (a TokenRequest)."""

    source: Literal["kubectl"] = "kubectl"
    namespace: str = "orders"
    context: str | None = None
    audience: str = identities.VAULT_AUDIENCE
    seconds: int = Field(default=600, ge=600)
    kubectl: str = "kubectl"


class FileTokens(_Strict):
    """Tokens already minted, one file per identity (an external environment)."""

    source: Literal["files"] = "files"
    files: dict[str, Path]


TokenSource = Annotated[DevstackTokens | KubectlTokens | FileTokens, Field(discriminator="source")]


class Person(_Strict):
    """A person's login at the OIDC provider (OpenBao userpass), password in a file."""

    username: str
    password_file: Path

    def password(self) -> str:
        """The password (read when needed, never kept in the model's dump)."""
        return self.password_file.read_text().strip()


class People(_Strict):
    """The people the checks log in as."""

    viewer: Person
    """May decode the namespace's payloads (``<ns>:read``)."""
    outsider: Person
    """Logs in, but holds no permission on the namespace (another namespace's viewer)."""
    approver: Person
    """An active approver (signs with their own Transit key)."""


class Target(_Strict):
    """A deployment to verify."""

    name: str
    temporal: TemporalTarget
    vault: VaultTarget
    postgres: PostgresTarget
    codec_server: CodecTarget
    identity_tokens: TokenSource
    people: People

    @property
    def vault_verify(self) -> str | bool:
        """``verify=`` for HTTP clients of Vault."""
        return str(self.vault.ca_file) if self.vault.ca_file else True


class TargetError(ValueError):
    """The target file is missing, unreadable or invalid (the message names the field)."""


def _relative_to(base: Path, data: object) -> object:
    """Paths in a target file are relative to the file's directory."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if isinstance(value, str) and (key.endswith("_file") or key == "home"):
                value = str((base / value) if not Path(value).is_absolute() else Path(value))
            elif key == "files" and isinstance(value, dict):
                value = {k: str(base / v) for k, v in value.items()}
            else:
                value = _relative_to(base, value)
            out[key] = value
        return out
    return data


def load(path: Path) -> Target:
    """Read a target file, or derive the target from a dev stack's ``stack.json``.

    Raises:
        TargetError: Naming the file and the field at fault.
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise TargetError(f"target {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise TargetError(f"target {path}: not valid JSON/YAML ({exc})") from None
    if isinstance(data, dict) and "vault_root_token_file" in data:
        return from_stack_json(path)
    try:
        return Target.model_validate(_relative_to(path.resolve().parent, data))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise TargetError(f"target {path}: {where}: {first['msg']}") from None


def from_stack_json(path: Path) -> Target:
    """The target of a running dev stack, from its ``stack.json``.

    Identity tokens come from the stack's identity endpoint; people are the dev users whose
    generated passwords live in the stack's ``secrets/`` directory.
    """
    from orders.devstack import people as dev_people
    from orders.devstack.state import StackInfo, StackPaths

    home = path.resolve().parent.parent
    paths = StackPaths(home)
    try:
        stack = StackInfo.model_validate_json(path.read_text())
    except ValidationError as exc:
        raise TargetError(f"stack file {path}: {exc.errors()[0]['msg']}") from None
    missing = [
        name
        for name in ("ca_file", "temporal_server_name", "codec_server_url", "codec_client_id")
        if getattr(stack, name) is None
    ]
    if missing:
        raise TargetError(f"stack file {path}: no {', '.join(missing)} (a TLS stack is needed)")
    assert stack.ca_file
    assert stack.temporal_server_name
    assert stack.codec_server_url
    assert stack.codec_client_id

    def person(user: str) -> Person:
        return Person(
            username=user, password_file=paths.secrets / dev_people.dev_password_name(user)
        )

    from orders.devstack.servers import FRONT_TOKEN_KEY

    return Target(
        name=f"dev stack at {home}",
        temporal=TemporalTarget(
            address=stack.temporal_address,
            namespace=stack.namespace,
            ca_file=Path(stack.ca_file),
            server_name=stack.temporal_server_name,
            front_token_key_file=paths.secrets / FRONT_TOKEN_KEY,
        ),
        vault=VaultTarget(address=stack.vault_addr, ca_file=Path(stack.ca_file)),
        postgres=PostgresTarget(
            host=stack.postgres_host,
            port=stack.postgres_port,
            database=stack.database,
            ca_file=Path(stack.ca_file),
        ),
        codec_server=CodecTarget(
            url=stack.codec_server_url, ui_origin=stack.ui_url, client_id=stack.codec_client_id
        ),
        identity_tokens=DevstackTokens(home=home),
        people=People(
            viewer=person(DEV_VIEWER), outsider=person(DEV_OUTSIDER), approver=person(DEV_APPROVER)
        ),
    )


DEV_VIEWER = "dev-viewer"
DEV_OUTSIDER = "dev-other-viewer"
DEV_APPROVER = "bob"
