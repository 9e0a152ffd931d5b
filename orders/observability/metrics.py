"""The project's own metrics (prometheus-client), the helpers that set them, ``serve()``.

Each process acts as one identity (the front as none): :func:`configure` names it once, and
every series this process exports carries it as ``identity``. Helpers take the event's
facts and clamp each to its bounded set (:mod:`.names`) before it becomes a label, so
callers cannot leak an unbounded value by mistake.

The metrics live in a registry of this module's own (not prometheus-client's global one),
with the process collector: what ``/metrics`` serves is exactly what the label test scans.
"""

from __future__ import annotations

import functools
import time
from typing import Final

import temporalio.api.operatorservice.v1 as osv1
import temporalio.api.workflowservice.v1 as wsv1
from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector
from prometheus_client.exposition import start_http_server

from orders.observability import names

REGISTRY: Final = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

_identity = names.OTHER

CREDENTIAL_GENERATIONS: Final = Counter(
    names.CREDENTIAL_GENERATIONS,
    "Credential generations issued, renewed, replaced, failed or refused, per identity.",
    (names.IDENTITY, names.EVENT),
    registry=REGISTRY,
)
CREDENTIAL_GENERATION: Final = Gauge(
    names.CREDENTIAL_GENERATION,
    "Number of the credential generation in use.",
    (names.IDENTITY,),
    registry=REGISTRY,
)
CREDENTIAL_EXPIRY: Final = Gauge(
    names.CREDENTIAL_EXPIRY,
    "When the credential generation in use expires unless renewed (Unix time).",
    (names.IDENTITY,),
    registry=REGISTRY,
)
CREDENTIAL_RENEWED_AT: Final = Gauge(
    names.CREDENTIAL_RENEWED_AT,
    "When the credential generation was last issued, renewed or replaced (Unix time).",
    (names.IDENTITY,),
    registry=REGISTRY,
)
CLIENT_CREDENTIAL_EVENTS: Final = Counter(
    names.CLIENT_CREDENTIAL_EVENTS_METRIC,
    "Client certificates and Temporal tokens issued, renewed or failed to renew.",
    (names.IDENTITY, names.CREDENTIAL, names.EVENT),
    registry=REGISTRY,
)
CLIENT_CREDENTIAL_EXPIRY: Final = Gauge(
    names.CLIENT_CREDENTIAL_EXPIRY,
    "When the client certificate or Temporal token in use expires (Unix time).",
    (names.IDENTITY, names.CREDENTIAL),
    registry=REGISTRY,
)
DEPENDENCY_UNAVAILABLE: Final = Counter(
    names.DEPENDENCY_UNAVAILABLE,
    "Calls that found Vault or Postgres unavailable.",
    (names.IDENTITY, names.DEPENDENCY),
    registry=REGISTRY,
)
CODEC_REFUSED: Final = Counter(
    names.CODEC_REFUSED,
    "Payloads a codec refused, by reason and what became of them.",
    (names.IDENTITY, names.REASON, names.ACTION),
    registry=REGISTRY,
)
FRONT_DENIED: Final = Counter(
    names.FRONT_DENIED,
    "Temporal calls the authorization front refused, by caller identity and call.",
    (names.IDENTITY, names.CALL),
    registry=REGISTRY,
)


def configure(identity: str) -> None:
    """Name the identity this process acts as (``identity`` on every series it exports)."""
    global _identity
    _identity = names.bounded(identity, names.IDENTITIES)


def process_identity() -> str:
    """The identity :func:`configure` named (``other`` before)."""
    return _identity


def credential_event(event: str) -> None:
    """Count a credential ``event`` (one of :data:`.names.CREDENTIAL_EVENTS`)."""
    bounded = names.bounded(event, names.CREDENTIAL_EVENTS)
    CREDENTIAL_GENERATIONS.labels(_identity, bounded).inc()
    if bounded in (names.CREDENTIAL_ISSUED, names.CREDENTIAL_RENEWED, names.CREDENTIAL_REPLACED):
        CREDENTIAL_RENEWED_AT.labels(_identity).set_to_current_time()


def credential_state(generation: int, expires_in: float) -> None:
    """Record the generation in use and how many seconds it has left (unless renewed)."""
    CREDENTIAL_GENERATION.labels(_identity).set(generation)
    CREDENTIAL_EXPIRY.labels(_identity).set(time.time() + max(0.0, expires_in))


def client_credential(credential: str, event: str, lifetime: float | None = None) -> None:
    """Count a client ``credential`` ``event``; with its ``lifetime`` (s), its expiry."""
    which = names.bounded(credential, names.CREDENTIALS)
    CLIENT_CREDENTIAL_EVENTS.labels(
        _identity, which, names.bounded(event, names.CLIENT_CREDENTIAL_EVENTS)
    ).inc()
    if lifetime is not None:
        CLIENT_CREDENTIAL_EXPIRY.labels(_identity, which).set(time.time() + max(0.0, lifetime))


def unavailable(dependency: str) -> None:
    """Count one call that found ``dependency`` (``vault`` or ``postgres``) unavailable."""
    DEPENDENCY_UNAVAILABLE.labels(_identity, names.bounded(dependency, names.DEPENDENCIES)).inc()


def codec_refused(reason: str, action: str) -> None:
    """Count one payload a codec refused for ``reason``, and what became of it."""
    CODEC_REFUSED.labels(
        _identity,
        names.bounded(reason, names.CODEC_REASONS),
        names.bounded(action, names.CODEC_ACTIONS),
    ).inc()


@functools.cache
def temporal_calls() -> frozenset[str]:
    """Method names of Temporal's workflow and operator services (the ``call`` values)."""
    found: set[str] = set()
    for module in (wsv1, osv1):
        found |= {n.removesuffix("Request") for n in dir(module) if n.endswith("Request")}
    return frozenset(found)


def front_caller(principal: str | None) -> str:
    """The ``identity`` label of a caller: its identity, ``person``, or a fixed word."""
    if principal is None:
        return names.UNAUTHENTICATED
    if principal.startswith(f"{names.PERSON}:"):
        return names.PERSON
    return names.bounded(principal, names.IDENTITIES)


def front_denied(principal: str | None, call: str) -> None:
    """Count a Temporal call the front refused; ``principal`` None: not authenticated."""
    label = call if call in temporal_calls() or call == "Check" else names.OTHER
    FRONT_DENIED.labels(front_caller(principal), label).inc()


def serve(host: str, port: int) -> None:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread (prometheus-client's)."""
    start_http_server(port, addr=host, registry=REGISTRY)
