"""Names of the project's metrics, their labels, and the bounded values each label may take.

One place for the names: the processes that export the metrics, the workflow (through the
SDK's replay-safe ``workflow.metric_meter()``), the dev stack's Prometheus queries, the
tests and the docs all read them here. Label values are bounded sets: an input outside its
set becomes :data:`OTHER` (or :data:`PERSON` for a person) before it is a label, so a
hostile or buggy caller cannot grow a series per order id, e-mail or token.
"""

from __future__ import annotations

from typing import Final

from orders.approvals import Decision, RejectReason
from orders.contract import identities
from orders.models import Outcome

# --- label names ------------------------------------------------------------------------

IDENTITY: Final = "identity"
"""The identity a series is about (the process's own, or the caller the front refused)."""
EVENT: Final = "event"
DEPENDENCY: Final = "dependency"
REASON: Final = "reason"
ACTION: Final = "action"
CALL: Final = "call"
OUTCOME: Final = "outcome"
ENTRY: Final = "entry"
DECISION: Final = "decision"
CREDENTIAL: Final = "credential"

# --- bounded values ---------------------------------------------------------------------

OTHER: Final = "other"
"""What any value outside a label's set becomes."""
PERSON: Final = "person"
"""The front's ``identity`` label for any person (never their name)."""
UNAUTHENTICATED: Final = "unauthenticated"
"""The front's ``identity`` label for a caller it could not authenticate."""

IDENTITIES: Final = frozenset(i.name for i in identities.ALL)

CREDENTIAL_ISSUED: Final = "issued"
"""A new generation (Vault login, and the database credential for a database identity)."""
CREDENTIAL_RENEWED: Final = "renewed"
"""The current generation's token or lease extended."""
CREDENTIAL_REPLACED: Final = "replaced"
"""A generation replaced by a newer one (max TTL near, or revoked under the process)."""
CREDENTIAL_FAILED: Final = "failed"
"""An attempt to obtain or renew failed (Vault down or refusing)."""
CREDENTIAL_REFUSED: Final = "refused"
"""Postgres refused the current credential (revoked, or expired during an outage)."""
CREDENTIAL_EVENTS: Final = frozenset(
    {
        CREDENTIAL_ISSUED,
        CREDENTIAL_RENEWED,
        CREDENTIAL_REPLACED,
        CREDENTIAL_FAILED,
        CREDENTIAL_REFUSED,
    }
)

CLIENT_CERT: Final = "client_cert"
"""The identity's Vault-issued client certificate for Temporal (mTLS)."""
TEMPORAL_TOKEN: Final = "temporal_token"  # noqa: S105 - a label value, not a secret
"""The identity's OpenBao-minted Temporal JWT."""
CREDENTIALS: Final = frozenset({CLIENT_CERT, TEMPORAL_TOKEN})
"""Credentials re-issued apart from the Vault generation (``credential`` label)."""
CLIENT_CREDENTIAL_EVENTS: Final = frozenset(
    {CREDENTIAL_ISSUED, CREDENTIAL_RENEWED, CREDENTIAL_FAILED}
)

VAULT: Final = "vault"
POSTGRES: Final = "postgres"
DEPENDENCIES: Final = frozenset({VAULT, POSTGRES})

PLAINTEXT: Final = "plaintext"
UNKNOWN_FORMAT: Final = "unknown_format"
AUTHENTICATION: Final = "authentication"
TOO_LARGE: Final = "too_large"
NOT_A_PAYLOAD: Final = "not_a_payload"
CORRUPT_COMPRESSION: Final = "corrupt_compression"
KEY_REFUSED: Final = "key_refused"
CODEC_REASONS: Final = frozenset(
    {
        PLAINTEXT,
        UNKNOWN_FORMAT,
        AUTHENTICATION,
        TOO_LARGE,
        NOT_A_PAYLOAD,
        CORRUPT_COMPRESSION,
        KEY_REFUSED,
    }
)
"""Why a codec refused a payload (``PayloadRefusedError.reason``)."""

QUARANTINED: Final = "quarantined"
"""Replaced by the content-free ``binary/refused`` marker (workers)."""
RAISED: Final = "raised"
"""Refused with an error (a codec that does not quarantine)."""
LEFT_ENCODED: Final = "left_encoded"
"""Sent back as it came (the codec server's answer to a viewer)."""
CODEC_ACTIONS: Final = frozenset({QUARANTINED, RAISED, LEFT_ENCODED})

UPDATE: Final = "update"
VALIDATOR: Final = "validator"
SIGNAL: Final = "signal"
APPROVAL_ENTRIES: Final = frozenset({UPDATE, VALIDATOR, SIGNAL})
"""Where an approval arrived: the Update's validator, its handler, or the signal."""
UNKNOWN_SIGNAL: Final = "unknown_signal"
APPROVAL_REASONS: Final = frozenset({*(r.value for r in RejectReason), UNKNOWN_SIGNAL})
DECISIONS: Final = frozenset(d.value for d in Decision)
OUTCOMES: Final = frozenset(o.value for o in Outcome)

# --- traces ---------------------------------------------------------------------------
# The spans themselves are named by temporalio.contrib.opentelemetry (``StartWorkflow:<type>``,
# ``RunWorkflow:<type>``, ``StartActivity:<name>``, ``RunActivity:<name>``, …); each
# process's resource says who it is: ``service.name`` = its identity.

SERVICE_NAMESPACE: Final = "orders"
"""``service.namespace`` of every process of the project (``service.name``: its identity)."""

# --- metrics ----------------------------------------------------------------------------
# prometheus-client names counters without the ``_total`` it appends on export; the SDK's
# runtime is configured to append it too (``counters_total_suffix``), so both read alike.

CREDENTIAL_GENERATIONS: Final = "orders_credential_generations"
"""Counter {identity, event}: generations issued, renewed, replaced, failed, refused."""
CREDENTIAL_GENERATION: Final = "orders_credential_generation"
"""Gauge {identity}: number of the generation in use (1 after the first login)."""
CREDENTIAL_EXPIRY: Final = "orders_credential_expiry_timestamp_seconds"
"""Gauge {identity}: when the generation in use expires unless renewed (Unix time)."""
CREDENTIAL_RENEWED_AT: Final = "orders_credential_renewed_timestamp_seconds"
"""Gauge {identity}: when the generation was last issued, renewed or replaced (Unix time):
``time() - this`` is the age of the last renewal."""
CLIENT_CREDENTIAL_EVENTS_METRIC: Final = "orders_client_credential_events"
"""Counter {identity, credential, event}: client certificates and Temporal tokens issued,
renewed (re-issued at ~2/3 of their lifetime) or failed to renew."""
CLIENT_CREDENTIAL_EXPIRY: Final = "orders_client_credential_expiry_timestamp_seconds"
"""Gauge {identity, credential}: when the client certificate / Temporal token in use
expires (Unix time)."""
DEPENDENCY_UNAVAILABLE: Final = "orders_dependency_unavailable"
"""Counter {identity, dependency}: a call to Vault or Postgres that found it unavailable."""
CODEC_REFUSED: Final = "orders_codec_refused_payloads"
"""Counter {identity, reason, action}: payloads a codec refused."""
FRONT_DENIED: Final = "orders_front_denied_calls"
"""Counter {identity, call}: Temporal calls the authorization front refused (caller's
identity; ``person`` for any person, ``unauthenticated`` when it knew no caller)."""
APPROVALS_ACCEPTED: Final = "orders_approvals_accepted"
"""Counter {entry, decision} (from the workflow): signed approvals accepted."""
APPROVALS_REJECTED: Final = "orders_approvals_rejected"
"""Counter {entry, reason} (from the workflow): approvals and signals refused."""
ORDER_OUTCOMES: Final = "orders_order_outcomes"
"""Counter {outcome} (from the workflow): orders finished, by outcome."""

SDK_LABELS: Final = frozenset(
    {
        "namespace",
        "task_queue",
        "workflow_type",
        "activity_type",
        "service_name",
        "worker_type",
        "poller_type",
        "operation",
        "status_code",
        "eager",
        "slot_type",
        "failure_reason",
        "le",
        "quantile",
    }
)
"""Labels the Temporal SDK puts on its own series (all bounded by the code's names)."""

LABEL_VALUES: Final[dict[str, frozenset[str]]] = {
    name: values | {OTHER}
    for name, values in {
        IDENTITY: IDENTITIES | {PERSON, UNAUTHENTICATED},
        EVENT: CREDENTIAL_EVENTS,
        CREDENTIAL: CREDENTIALS,
        DEPENDENCY: DEPENDENCIES,
        REASON: CODEC_REASONS | APPROVAL_REASONS,
        ACTION: CODEC_ACTIONS,
        OUTCOME: OUTCOMES,
        ENTRY: APPROVAL_ENTRIES,
        DECISION: DECISIONS,
    }.items()
}
"""Every label name the project's own metrics use, and the values it may take.

``call`` is bounded by the Temporal service's method names (checked where it is set:
:func:`orders.observability.metrics.front_denied`)."""


def bounded(value: str, allowed: frozenset[str]) -> str:
    """``value`` if it is one of ``allowed``, else :data:`OTHER`."""
    return value if value in allowed else OTHER
