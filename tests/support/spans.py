"""Spans a test can read: the end of a real OpenTelemetry SDK pipeline, in memory."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult


class Collected(SpanExporter):
    """Keeps every span it is given (standing in for a collector)."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += spans
        return SpanExportResult.SUCCESS

    def text(self) -> str:
        """Every span as the SDK's JSON, one per line (what a scan reads)."""
        return "\n".join(s.to_json(indent=None) for s in self.spans)


def collecting(exporter: SpanExporter) -> TracerProvider:
    """A provider exporting each span to ``exporter`` as it ends."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


Span = dict[str, Any]
"""A span as the SDK's JSON (``ReadableSpan.to_json``) has it: what exporter files hold."""

ROOT: Final = "StartWorkflow:OrderWorkflow"
"""The client's span that starts an order: the root of the order's trace."""


def as_dicts(spans: Sequence[ReadableSpan]) -> list[Span]:
    """``spans`` as their JSON reads."""
    return [json.loads(s.to_json(indent=None)) for s in spans]


def trace_of(spans: Sequence[Span], workflow_id: str) -> list[Span]:
    """The spans of the trace whose root started ``workflow_id`` (empty: no root yet)."""
    roots = [
        s
        for s in spans
        if s["name"] == ROOT and s["attributes"].get("temporalWorkflowID") == workflow_id
    ]
    assert len(roots) <= 1, roots
    if not roots:
        return []
    trace_id = roots[0]["context"]["trace_id"]
    return [s for s in spans if s["context"]["trace_id"] == trace_id]


def orphans(trace: Sequence[Span]) -> list[str]:
    """Names of the spans whose parent is not in ``trace``."""
    ids = {s["context"]["span_id"] for s in trace}
    return [s["name"] for s in trace if s["parent_id"] is not None and s["parent_id"] not in ids]


def check_links(trace: Sequence[Span], workflow_id: str) -> None:
    """One root, the client's start of ``workflow_id``; every other span's parent present."""
    roots = [(s["name"], s["kind"]) for s in trace if s["parent_id"] is None]
    assert roots == [(ROOT, "SpanKind.CLIENT")], roots
    assert orphans(trace) == [], orphans(trace)
    others = {s["attributes"].get("temporalWorkflowID") for s in trace} - {workflow_id, None}
    assert others == set(), others
