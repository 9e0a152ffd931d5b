"""The standard OpenTelemetry variables the project's processes honour.

No imports: the dev stack's environment allow-list reads them without loading the SDK.
"""

from __future__ import annotations

from typing import Final

OTLP_ENDPOINT_VARIABLES: Final = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
)
"""Either one set: spans go over OTLP (gRPC) to that collector."""

OTEL_VARIABLES: Final = (
    *OTLP_ENDPOINT_VARIABLES,
    "OTEL_SDK_DISABLED",
    "OTEL_EXPORTER_OTLP_INSECURE",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
)
"""The standard OpenTelemetry variables a process of the project honours (deployments set
them; the dev stack passes them on to identities' processes when its own shell has them).
Headers (``OTEL_EXPORTER_OTLP_HEADERS``) are left out: they may hold a credential."""
