"""The Temporal SDK runtime of a worker process, exporting its metrics for Prometheus.

The SDK's Core measures what an operator of Temporal workers watches (schedule-to-start
latency, task slots, poll success, activity and workflow task failures) and serves it on
its own ``/metrics``. The workflow's counters (:data:`.names.APPROVALS_REJECTED`, …) go
there too: ``workflow.metric_meter()`` is the runtime's meter, and it records nothing
during replay, so a replayed history does not count an approval twice.
"""

from __future__ import annotations

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from orders.observability import names


def runtime(identity: str, host: str, port: int) -> Runtime:
    """A runtime serving the SDK's metrics on ``host:port``, each series tagged ``identity``.

    Counters end in ``_total`` and durations are seconds, as prometheus-client's do, so the
    two endpoints of a worker read alike.
    """
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=f"{host}:{port}",
                counters_total_suffix=True,
                durations_as_seconds=True,
            ),
            global_tags={names.IDENTITY: names.bounded(identity, names.IDENTITIES)},
        )
    )
