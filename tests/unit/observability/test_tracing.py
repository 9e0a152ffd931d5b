"""What a span may carry out of a process: allow-listed ids, never a message or an argument.

Spans go through the real SDK (tracer provider, processor, exporter chain) and through the
real ``TracingInterceptor`` of the Temporal SDK on the client side; what the exporter
receives is scanned. Each check fails without :func:`orders.observability.tracing.scrub`.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import (
    TraceServiceServicer,
    add_TraceServiceServicer_to_server,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from temporalio.client import OutboundInterceptor, StartWorkflowInput, WorkflowHandle
from temporalio.common import Priority, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.contrib.opentelemetry import TracingInterceptor

from orders.observability import names, otel_env, tracing
from tests.support.spans import Collected, collecting

PII = "ann.secret@example.org"
ADDRESS = "12 Quay Street, Dublin"


@pytest.fixture
def collected() -> Iterator[tuple[TracerProvider, Collected]]:
    out = Collected()
    provider = collecting(tracing.ScrubbingExporter(out))
    yield provider, out
    provider.shutdown()


def test_only_allow_listed_attributes_and_exception_types_leave(
    collected: tuple[TracerProvider, Collected],
) -> None:
    provider, out = collected
    tracer = provider.get_tracer(__name__)
    with tracer.start_as_current_span(
        "RunActivity:notify_customer",
        attributes={"temporalWorkflowID": "order-1", "customer_email": PII, "args": ADDRESS},
        kind=SpanKind.SERVER,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        span.record_exception(ValueError(f"cannot mail {PII} at {ADDRESS}"))
        span.add_event("note", {"address": ADDRESS})
        span.set_status(Status(StatusCode.ERROR, f"ValueError: cannot mail {PII}"))
        span.add_link(span.get_span_context(), {"why": PII})

    (exported,) = out.spans
    assert dict(exported.attributes or {}) == {"temporalWorkflowID": "order-1"}
    assert [(e.name, dict(e.attributes or {})) for e in exported.events] == [
        ("exception", {"exception.type": "ValueError"}),
        ("note", {}),
    ]
    assert exported.status.status_code is StatusCode.ERROR
    assert exported.status.description == "ValueError"
    text = out.text()
    assert PII not in text
    assert ADDRESS not in text
    assert "Quay" not in text


class Started(OutboundInterceptor):
    """The end of the client's interceptor chain: records that the call got through."""

    def __init__(self) -> None:  # no next: nothing is sent anywhere
        self.inputs: list[StartWorkflowInput] = []

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        self.inputs.append(input)
        return None  # type: ignore[return-value]  # the caller below ignores it


async def test_the_client_span_carries_no_workflow_argument(
    collected: tuple[TracerProvider, Collected],
) -> None:
    provider, out = collected
    end = Started()
    chain = TracingInterceptor(provider.get_tracer(__name__)).intercept_client(end)
    order = {"order_id": "o-1", "customer_email": PII, "shipping_address": ADDRESS}
    call = StartWorkflowInput(
        workflow="OrderWorkflow",
        args=[order],
        id="order-o-1",
        task_queue="order-workflow",
        execution_timeout=None,
        run_timeout=None,
        task_timeout=None,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        retry_policy=None,
        cron_schedule="",
        memo={"note": PII},
        search_attributes=None,
        start_delay=None,
        headers={},
        start_signal=None,
        start_signal_args=[],
        static_summary=None,
        static_details=None,
        ret_type=None,
        rpc_metadata={},
        rpc_timeout=None,
        request_eager_start=False,
        priority=Priority.default,
        versioning_override=None,
    )
    await chain.start_workflow(call)

    (span,) = out.spans
    assert span.name == "StartWorkflow:OrderWorkflow"
    assert dict(span.attributes or {}) == {"temporalWorkflowID": "order-o-1"}
    assert set(span.attributes or {}) <= tracing.SPAN_ATTRIBUTES
    assert PII not in out.text()
    # The context went on in a header, for the workflow's spans to hang below this one.
    (sent,) = end.inputs
    assert set(sent.headers) == {"_tracer-data"}
    assert PII not in sent.headers["_tracer-data"].data.decode()


def test_span_names_are_the_contracts_never_a_callers(
    collected: tuple[TracerProvider, Collected],
) -> None:
    provider, out = collected
    tracer = provider.get_tracer(__name__)
    for name in (
        "RunActivity:notify_customer",
        "HandleSignal:approval",
        f"HandleSignal:{PII}",  # a signal's name is the sender's choice
        f"QueryWorkflow:{ADDRESS}",
        "HandleQuery:__stack_trace",
        "no-colon",
    ):
        tracer.start_span(name).end()
    assert [s.name for s in out.spans] == [
        "RunActivity:notify_customer",
        "HandleSignal:approval",
        "HandleSignal:other",
        "QueryWorkflow:other",
        "HandleQuery:other",
        "other",
    ]


def test_file_exporter_appends_private_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "order-validate.jsonl"
    exporter = tracing.JsonLinesExporter(path)
    provider = TracerProvider(resource=Resource.create({"service.name": "order-validate"}))
    provider.add_span_processor(SimpleSpanProcessor(tracing.ScrubbingExporter(exporter)))
    names_ = ("RunActivity:validate_order", "RunActivity:fulfill_order")
    for name in names_:
        provider.get_tracer(__name__).start_span(name).end()
    provider.shutdown()

    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [s["name"] for s in lines] == list(names_)
    assert {s["resource"]["attributes"]["service.name"] for s in lines} == {"order-validate"}


def test_exporter_choice(tmp_path: Path) -> None:
    file = tmp_path / "x.jsonl"
    assert tracing.exporter(None, {}) is None
    found = tracing.exporter(file, {})
    assert found is not None
    assert isinstance(found[0], tracing.JsonLinesExporter)
    # A collector configured by the standard variable wins over the file.
    otlp = tracing.exporter(file, {otel_env.OTLP_ENDPOINT_VARIABLES[0]: "http://127.0.0.1:4317"})
    assert otlp is not None
    assert type(otlp[0]).__name__ == "OTLPSpanExporter"
    otlp[0].shutdown()


def test_service_name_is_a_contract_identity(tmp_path: Path) -> None:
    made = tracing.provider("not-an-identity", tmp_path / "y.jsonl")
    assert made is not None
    assert made.resource.attributes["service.name"] == names.OTHER
    assert made.resource.attributes["service.namespace"] == names.SERVICE_NAMESPACE


class Receiver(TraceServiceServicer):
    """An OTLP/gRPC trace receiver (what a collector's ``otlp`` receiver answers)."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []

    def Export(
        self, request: ExportTraceServiceRequest, context: Any
    ) -> ExportTraceServiceResponse:
        self.requests.append(request)
        return ExportTraceServiceResponse()


def test_otlp_sends_scrubbed_spans_under_the_identitys_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver = Receiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    add_TraceServiceServicer_to_server(receiver, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
        made = tracing.provider("order-notify", None)  # no file: OTLP only
        assert made is not None
        with made.get_tracer(__name__).start_as_current_span(
            "RunActivity:notify_customer", attributes={"temporalWorkflowID": "order-9", "to": PII}
        ):
            pass
        assert made.force_flush(10_000)
    finally:
        server.stop(None)
        tracing._providers.pop("order-notify", None)  # this process's: not for other tests
    made.shutdown()
    (request,) = receiver.requests
    (resource_spans,) = request.resource_spans
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["service.name"] == "order-notify"
    assert resource["service.namespace"] == names.SERVICE_NAMESPACE
    (span,) = [s for scope in resource_spans.scope_spans for s in scope.spans]
    assert span.name == "RunActivity:notify_customer"
    assert {a.key for a in span.attributes} == {"temporalWorkflowID"}
    assert PII.encode() not in request.SerializeToString()
