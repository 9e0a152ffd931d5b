"""Traces: one order is one trace across every identity that works on it.

``temporalio.contrib.opentelemetry``'s :class:`TracingInterceptor` on every client and
worker carries the trace context in a Temporal header (``_tracer-data``) from the client's
``StartWorkflow`` span to the workflow's spans and on to each activity's ``RunActivity``
span, whatever process and identity runs it. Each process exports its spans with the
resource attribute ``service.name`` = its identity (the contract's name, as on metrics).

Where spans go (:func:`exporter`):

- ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) set: OTLP over
  gRPC to a collector (compose, kind), configured by the exporter's standard variables;
- else ``ORDERS_TRACE_FILE`` set: JSON lines appended to that file (the dev stack: one
  file per identity, 0600, owned by the identity's OS user);
- else nowhere: no interceptor, no cost.

Every span passes :func:`scrub` before it is exported: only attributes this project knows
to be bounded ids survive, and an exception's message and stack trace are dropped (the
project encrypts failure messages in Temporal for a reason; a trace must not undo that).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_NAMESPACE, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Status
from temporalio.contrib.opentelemetry import TracingInterceptor

from orders.contract import api, identities
from orders.observability import names, otel_env

SPAN_ATTRIBUTES: Final = frozenset(
    {
        "temporalWorkflowID",
        "temporalRunID",
        "temporalActivityID",
        "temporalActivityType",
        "temporalUpdateID",
        "temporalNexusOperationID",
    }
)
"""The only span attributes exported: the ids the interceptor sets. An order's workflow id
names the order (``order-<id>``), never a person; no argument or result is ever one."""

SPAN_TARGETS: Final = frozenset(
    {
        api.ORDER_WORKFLOW_TYPE,
        api.STATUS_QUERY,
        api.APPROVE_UPDATE,
        api.APPROVAL_SIGNAL,
        *(a for i in identities.ALL for a in i.activities),
    }
)
"""What may follow ``<Kind>:`` in a span name: the contract's workflow, query, update,
signal and activity names. A caller chooses a signal's or query's name, so anything else
(the SDK's own ``__…`` queries included) becomes ``other``: no caller writes into a trace."""

EXCEPTION_EVENT: Final = "exception"
EXCEPTION_TYPE: Final = "exception.type"

FILE_SCHEDULE_DELAY_MILLIS: Final = 1000
"""How often the file exporter's batch is written (the SDK's default is 5 s; a file append
is cheap, and tests read the file)."""


def scrub(span: ReadableSpan) -> ReadableSpan:
    """``span`` with a bounded name, allow-listed attributes, exceptions reduced to their type.

    The interceptor records an exception's message as an event and in the span's status
    (``Type: message``); a message may carry what the failure converter encrypts in
    Temporal. What remains: span name, ids, kind, times, links, the error's type.
    """
    attributes = {k: v for k, v in (span.attributes or {}).items() if k in SPAN_ATTRIBUTES}
    events = [
        Event(EXCEPTION_EVENT, {EXCEPTION_TYPE: str(e.attributes[EXCEPTION_TYPE])}, e.timestamp)
        if e.name == EXCEPTION_EVENT and e.attributes and EXCEPTION_TYPE in e.attributes
        else Event(e.name, {}, e.timestamp)
        for e in span.events
    ]
    kind, colon, target = span.name.partition(":")
    name = f"{kind}:{names.bounded(target, SPAN_TARGETS)}" if colon else names.OTHER
    description = span.status.description
    status = Status(span.status.status_code, description.split(":", 1)[0] if description else None)
    return ReadableSpan(
        name=name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=[type(link)(link.context) for link in span.links],
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class ScrubbingExporter(SpanExporter):
    """Passes every span through :func:`scrub` before the real exporter sees it."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export the scrubbed spans."""
        return self.inner.export([scrub(s) for s in spans])

    def shutdown(self) -> None:
        """Shut the real exporter down."""
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the real exporter."""
        return self.inner.force_flush(timeout_millis)


class JsonLinesExporter(SpanExporter):
    """Appends each span as one JSON line (the SDK's ``to_json``) to a private file.

    The file is created 0600 (the dev stack creates it beforehand, owned by the identity's
    OS user). A batch is one ``write`` on an ``O_APPEND`` descriptor, so two processes
    acting as one identity (a worker and a tool) never interleave lines.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd: int | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Append ``spans``; a failed write drops the batch (tracing never stops work)."""
        data = "".join(s.to_json(indent=None) + "\n" for s in spans).encode()
        try:
            with self._lock:
                if self._fd is None:
                    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
                    self._fd = os.open(self.path, flags, 0o600)
                os.write(self._fd, data)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Close the file."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def exporter(
    trace_file: Path | None, environ: Mapping[str, str] = os.environ
) -> tuple[SpanExporter, int | None] | None:
    """Where this process's spans go, and the batch delay (None: the SDK's), or None.

    Raises:
        ValueError: An OTLP endpoint that is not a URL.
    """
    if any(environ.get(v) for v in otel_env.OTLP_ENDPOINT_VARIABLES):
        # Imported only here: grpc's exporter is not needed where no collector is.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(), None
    if trace_file is not None:
        return JsonLinesExporter(trace_file), FILE_SCHEDULE_DELAY_MILLIS
    return None


_providers: dict[str, TracerProvider] = {}
_providers_lock = threading.Lock()


def provider(identity: str, trace_file: Path | None) -> TracerProvider | None:
    """This process's tracer provider for ``identity`` (one per identity), or None.

    A provider of its own, not the global one: a tool or a test acting as two identities
    in one process exports each one's spans under its own ``service.name``. The sampler is
    the SDK's default (parent-based, always on; ``OTEL_TRACES_SAMPLER`` changes it): a
    worker follows the client's decision, so an order's trace is whole or absent.
    """
    with _providers_lock:
        if identity in _providers:
            return _providers[identity]
        found = exporter(trace_file)
        if found is None:
            return None
        span_exporter, delay = found
        resource = Resource.create(
            {
                SERVICE_NAME: names.bounded(identity, names.IDENTITIES),
                SERVICE_NAMESPACE: names.SERVICE_NAMESPACE,
            }
        )
        made = TracerProvider(resource=resource)
        made.add_span_processor(
            BatchSpanProcessor(ScrubbingExporter(span_exporter), schedule_delay_millis=delay)
        )
        _providers[identity] = made
        return made


def interceptor(identity: str, trace_file: Path | None) -> TracingInterceptor | None:
    """The tracing interceptor of a client or worker acting as ``identity``, or None.

    None when this process exports spans nowhere (:func:`exporter`).
    """
    made = provider(identity, trace_file)
    if made is None:
        return None
    return TracingInterceptor(made.get_tracer(__name__))


def flush(timeout_millis: int = 5000) -> None:
    """Export every span this process has ended (before it exits, or a test reads files)."""
    with _providers_lock:
        providers = list(_providers.values())
    for made in providers:
        made.force_flush(timeout_millis)
