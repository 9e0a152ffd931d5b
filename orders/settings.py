"""Settings, read once at process start and passed down (never read deep inside code).

Workers and tools get their configuration from ``ORDERS_*`` environment variables (the dev
stack's supervisor sets them; in Kubernetes a ConfigMap does). Nothing secret is configured
here: a worker's only bootstrap material is its ServiceAccount token *file*.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from orders.contract import identities, pki_names
from orders.security.trust import ca_verify

DEFAULT_HEARTBEAT_SECONDS: Final = 10.0
"""How often a worker touches its heartbeat file (probes allow a few missed beats)."""


class LeaseTiming(BaseSettings):
    """When to renew and when to replace a credential generation (fractions of a TTL)."""

    model_config = SettingsConfigDict(env_prefix="ORDERS_LEASE_", frozen=True)

    renew_fraction: float = Field(default=2 / 3, gt=0, lt=1)
    """Renew a lease or token once this fraction of its current TTL has passed."""
    replace_margin_fraction: float = Field(default=0.25, gt=0, lt=1)
    """Replace the credential when less than this fraction of its max TTL is left."""
    revoke_grace_seconds: float = Field(default=15.0, ge=0)
    """Keep a replaced credential this long so in-flight activities finish on it."""
    retry_initial_seconds: float = Field(default=0.5, gt=0)
    retry_max_seconds: float = Field(default=10.0, gt=0)


class WorkerSettings(BaseSettings):
    """Everything a worker process needs, from ``ORDERS_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="ORDERS_", frozen=True)

    identity: str
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = identities.TEMPORAL_NAMESPACE
    temporal_tls_ca_file: Path | None = None
    """CA the Temporal frontend's certificate chains to; set means mTLS with a client
    certificate the identity issues from Vault PKI (renewed, client swapped)."""
    temporal_tls_server_name: str = pki_names.Server.TEMPORAL.value
    """Name the frontend's certificate must carry (TLS server name)."""
    temporal_token: bool = False
    """Present the identity's own JWT (``authorization: Bearer``) to Temporal: minted by
    OpenBao (``identity/oidc/token/<identity>``, :mod:`orders.vault.tokens`) with its Vault
    token, refreshed at ~2/3 of its lifetime. Needed where the server authorizes calls."""
    vault_addr: str = "http://127.0.0.1:8200"
    vault_cacert: Path | None = None
    vault_k8s_mount: str = "kubernetes"
    vault_db_mount: str = "database"
    token_file: Path = Path("/var/run/secrets/tokens/vault-token")
    """Projected ServiceAccount token (audience ``vault``) the worker logs in with."""
    k8s_host: str | None = None
    """If set, the worker requests its own token here (the dev stack plays kubelet)."""
    k8s_ca_file: Path | None = None
    k8s_client_token_file: Path | None = None
    token_seconds: int = Field(default=600, ge=10)
    db_host: str = "127.0.0.1"
    db_port: int = 5432
    db_name: str = identities.DB_NAME
    db_ssl_ca_file: Path | None = None
    """Set: connect with direct TLS (``sslnegotiation=direct``) and ``verify-full`` against
    this CA (the dev stack's Postgres TLS front; Postgres 17+ natively)."""
    db_pool_size: int = Field(default=10, ge=1)
    """Connections a worker keeps open (and up to half as many more in bursts). Bursts
    beyond the pool open and close a TLS session each time: at 5, a 16-order load opened
    a new Postgres session every ~25 orders; at 10, about every 45 (``make bench``)."""
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    """How long a checkout waits for a pooled connection. With slots derived from the pool
    (``max_concurrent_activities``) a checkout waits only while a rotation refills it."""
    max_concurrent_activities: int | None = Field(default=None, ge=1)
    """Activity slots. Unset: a database identity gets exactly what its pool can serve
    (:func:`orders.db.engine.pool_capacity`), others :data:`DEFAULT_ACTIVITY_SLOTS`; set: a
    cap, never above the pool's capacity (``workers.build.activity_slots``)."""
    build_id: str | None = None
    """Build ID of this worker's code (``ORDERS_BUILD_ID``; a release sets its own, e.g. the
    image tag). Unset: a digest of the project's source (:func:`orders.rollout.build_id`)."""
    worker_versioning: bool = False
    """A workflow identity's worker polls as the Worker Deployment version (identity, build
    ID) and its runs are pinned to it; new runs reach it once an operator made it current
    (``orders deploy promote``). Off: unversioned. The dev stack turns it on."""
    log_level: str = "info"
    shutdown_grace_seconds: float = Field(default=20.0, ge=0)
    allow_plaintext_payloads: bool = False
    """Accept unencrypted Temporal payloads (off: they are refused, never processed)."""
    codec_outage_wait_seconds: float = Field(default=30.0, ge=0)
    """How long the codec waits for Vault when it needs a data key it cannot unwrap: a
    workflow task then times out and is retried instead of failing."""
    ready_file: Path | None = None
    """Written once the worker polls its queue (the supervisor waits for it)."""
    client_cert_file: Path | None = None
    """Where the worker publishes its current client certificate (public part only), for
    ``orders dev status``'s expiry table."""
    heartbeat_file: Path | None = None
    """Touched by the event loop every ``heartbeat_seconds`` (liveness, ``workers.probe``)."""
    heartbeat_seconds: float = Field(default=DEFAULT_HEARTBEAT_SECONDS, gt=0)
    metrics_host: str = "127.0.0.1"
    """Where ``/metrics`` endpoints listen (a pod: its own address, ``0.0.0.0``)."""
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """Port of the project's own metrics (:mod:`orders.observability.metrics`); unset: none."""
    sdk_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """Port of the Temporal SDK runtime's metrics (a worker's); unset: none."""
    trace_file: Path | None = None
    """Where this process appends its spans as JSON lines (the dev stack); an OTLP endpoint
    in the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` wins (:mod:`orders.observability.tracing`)."""

    @property
    def vault_verify(self) -> str | bool:
        """How clients of Vault verify it (``vault_cacert``, or the system trust store)."""
        return ca_verify(self.vault_cacert)


class ProbeSettings(BaseSettings):
    """What ``python -m workers.probe`` checks: the same ``ORDERS_*`` files the worker writes.

    A separate model because a probe runs in the worker's container without needing (or
    validating) the worker's identity and endpoints.
    """

    model_config = SettingsConfigDict(env_prefix="ORDERS_", frozen=True, extra="ignore")

    heartbeat_file: Path | None = None
    ready_file: Path | None = None
    heartbeat_seconds: float = Field(default=DEFAULT_HEARTBEAT_SECONDS, gt=0)
    heartbeat_missed: int = Field(default=3, ge=1)
    """Beats that may be missed before the worker counts as hung."""
