"""The setup steps' own OpenBao tokens, and the root token's end.

The ``unseal`` step is the only one that ever holds a root token, and only in memory: the
one ``sys/init`` returns on first start, else a fresh one it generates with the unseal key
(:func:`generate_root`, what ``bao operator generate-root`` does). With it, it writes one
policy per later step (``vault/setup/setup-<step>.hcl``), creates one orphan token per step
carrying only that policy (no ``default`` policy, non-renewable, :data:`STEP_TOKEN_TTL`),
hands each token to its step alone (a file in the step's own volume, or a Secret only that
Job mounts), then revokes the root token. Each later step ends its own token when done.

A root token is therefore never stored and never mounted; an operator who needs one
generates it with the unseal key (docs/deploy.md, "Root token").
"""

from __future__ import annotations

import base64
import enum
import functools
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

import hvac
import structlog

from orders.deploy.setup_stores import DirectoryStore, KeyStore, SecretStore
from orders.vault.metrics_reader import apply_metrics_reader, mint_metrics_token
from orders.vault.policy import read_shipped

log = structlog.get_logger(__name__)

TOKEN_KEY: Final = "token"  # noqa: S105 - the name of a file/Secret key, not a token
"""File name (compose) or Secret key (kind) of a step's token."""
STEP_TOKEN_TTL: Final = 3600
"""Lifetime of a step token (s): every setup step runs within the hour after unsealing
(``kind.sh up`` waits at most 15 minutes per Job)."""


class Step(enum.StrEnum):
    """The setup steps after ``unseal`` that talk to OpenBao."""

    PKI = "pki"
    CONFIGURE = "configure"
    NAMESPACE = "namespace"
    PROMOTE = "promote"

    @property
    def policy(self) -> str:
        """Name of the step's OpenBao policy."""
        return f"setup-{self.value}"

    @property
    def policy_text(self) -> str:
        """The step's literal HCL policy (``vault/setup/``, shipped with the package)."""
        return read_shipped("setup", f"{self.policy}.hcl")


METRICS: Final = "metrics"
"""Not a setup step: Prometheus, whose long-lived token may read ``sys/metrics`` only
(:mod:`orders.vault.metrics_reader`, the dev stack's policy and token role). It is handed
over like a step's token (``--step-token-dir metrics=DIR``, ``--k8s-step-secret
metrics=SECRET``) and, unlike them, is not revoked by its holder: it expires after
:data:`orders.vault.metrics_reader.SCRAPE_LIFETIME`; every rerun of ``unseal`` (each
``up``) hands over a fresh one."""
Sink = Callable[[str], None]


def wait_active(client: hvac.Client, timeout: float) -> None:
    """Wait until the unsealed OpenBao is its raft cluster's leader (it answers 5xx before).

    Raises:
        TimeoutError: If it does not become active within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if client.sys.read_leader_status()["is_self"]:
                return
        except Exception as exc:  # 5xx while electing
            if time.monotonic() > deadline:
                raise TimeoutError(f"OpenBao at {client.url} did not become active") from exc
        if time.monotonic() > deadline:
            raise TimeoutError(f"OpenBao at {client.url} did not become active")
        time.sleep(0.2)


def generate_root(client: hvac.Client, unseal_key: str) -> str:
    """A new root token from the unseal key (``sys/generate-root``, one key share).

    The encoded token OpenBao answers is the token XOR a one-time password this process
    chose, base64-encoded (what ``bao operator generate-root -decode`` undoes).

    Returns:
        The root token.

    Raises:
        RuntimeError: If OpenBao does not complete the generation with this key.
    """
    if client.sys.read_root_generation_progress().get("started"):
        client.sys.cancel_root_generation()  # a stale attempt (a crashed run) blocks a new one
    started = client.sys.start_root_token_generation()
    otp: str = started["otp"]
    done = client.sys.generate_root(key=unseal_key, nonce=started["nonce"])
    if not done.get("complete"):
        raise RuntimeError("root token generation did not complete with the stored unseal key")
    encoded: str = done["encoded_token"]
    raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
    return bytes(a ^ b for a, b in zip(raw, otp.encode(), strict=True)).decode()


def mint_step_tokens(root: hvac.Client, steps: list[Step]) -> dict[Step, str]:
    """Write each step's policy and create its orphan, policy-scoped, short-lived token.

    Args:
        root: A client holding a root token.
        steps: The steps to mint a token for.

    Returns:
        Step -> token.
    """
    tokens: dict[Step, str] = {}
    for step in steps:
        root.sys.create_or_update_policy(step.policy, step.policy_text)
        created = root.write_data(
            "auth/token/create-orphan",
            data={
                "policies": [step.policy],
                "no_default_policy": True,
                "renewable": False,
                "ttl": f"{STEP_TOKEN_TTL}s",
                "explicit_max_ttl": f"{STEP_TOKEN_TTL}s",
                "display_name": step.policy,
                "meta": {"step": step.value},
            },
        )
        tokens[step] = created["auth"]["client_token"]
    return tokens


def hand_over(
    client: hvac.Client,
    *,
    root_token: str | None,
    unseal_key: str,
    sinks: Mapping[Step | str, Sink],
    active_timeout: float = 60,
) -> None:
    """Mint each step's token, give it to that step's sink, and revoke the root token.

    Args:
        client: A client reaching the unsealed OpenBao (its token is not used).
        root_token: The root token ``sys/init`` just returned, else None (one is generated
            with ``unseal_key`` and lives only in this call).
        unseal_key: The stored unseal key.
        sinks: Step (or :data:`METRICS`) -> where its token goes (a file or Secret writer).
        active_timeout: How long to wait for OpenBao to become active.
    """
    wait_active(client, active_timeout)
    root = hvac.Client(url=client.url, token=root_token, verify=client.session.verify, timeout=60)
    if root_token is None or not _valid(root):
        root.token = generate_root(client, unseal_key)
    try:
        steps = mint_step_tokens(root, [s for s in sinks if isinstance(s, Step)])
        tokens: dict[Step | str, str] = {str(k): v for k, v in steps.items()}
        if METRICS in sinks:
            apply_metrics_reader(root)
            tokens[METRICS] = mint_metrics_token(root)
        for name, sink in sinks.items():
            sink(tokens[name])
    finally:
        root.auth.token.revoke_self()
    log.info("openbao.root_token.revoked", steps=sorted(str(s) for s in sinks))


def _valid(client: hvac.Client) -> bool:
    try:
        client.auth.token.lookup_self()
    except hvac.exceptions.Forbidden:
        return False
    return True


def revoke_own(client: hvac.Client) -> None:
    """End a step token once its step is done (a later rerun gets a fresh one)."""
    client.auth.token.revoke_self()


def sinks(dirs: Mapping[str, str], secrets: Mapping[str, str]) -> dict[Step | str, Sink]:
    """Where each step's token goes: ``DIR/token`` (compose) or a Secret (kind).

    Args:
        dirs: Step name -> directory (the step's own volume).
        secrets: Step name -> Secret in the pod's namespace (mounted by that Job alone).

    Raises:
        SystemExit: For an unknown step name (named in the message).
    """
    out: dict[Step | str, Sink] = {}
    for kind, pairs in (("dir", dirs), ("secret", secrets)):
        for name, where in pairs.items():
            step: Step | str
            try:
                step = METRICS if name == METRICS else Step(name)
            except ValueError:
                choices = ", ".join([*(s.value for s in Step), METRICS])
                raise SystemExit(f"unknown setup step {name!r} (one of: {choices})") from None
            store: KeyStore = (
                DirectoryStore(Path(where)) if kind == "dir" else SecretStore.in_cluster(where)
            )
            out[step] = functools.partial(_save_token, store)
    return out


def _save_token(store: KeyStore, token: str) -> None:
    store.save({TOKEN_KEY: token})
