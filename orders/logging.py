"""Structured logging (structlog, one JSON object per line) with secrets kept out.

Every line carries the process identity. Keys that could hold secrets are replaced before
rendering, as a last line of defence: code should not log them in the first place.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Final

import structlog

REDACTED: Final = "[redacted]"
_SECRET_KEYS: Final = frozenset(
    {"password", "token", "jwt", "secret", "client_token", "authorization", "dsn", "payload"}
)


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key.lower() in _SECRET_KEYS:
            event[key] = REDACTED
    return event


def _temporal_context(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Lift the Temporal SDK's activity/workflow info (LogRecord extras) into fields."""
    record = event.get("_record")
    for attr in ("temporal_activity", "temporal_workflow"):
        info = getattr(record, attr, None)
        if isinstance(info, dict):
            for key in ("workflow_id", "activity_type", "attempt", "task_queue", "workflow_type"):
                if key in info:
                    event.setdefault(key, info[key])
    return event


def configure(identity: str, level: str = "info") -> None:
    """Route structlog and stdlib logging to stderr as JSON lines tagged with ``identity``.

    Args:
        identity: Identity name bound to every line.
        level: Minimum level name.
    """
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(identity=identity)
    # The Temporal SDK and libraries log through stdlib: render those as JSON too.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, _temporal_context],
        )
    )
    # Workflow/activity info goes into JSON fields (above), not into the message text.
    from temporalio import activity, workflow

    activity.logger.activity_info_on_message = False
    workflow.logger.workflow_info_on_message = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.INFO))
    # hvac/urllib3 debug output can include request bodies; keep them quiet.
    for noisy in ("urllib3", "hvac", "httpx", "kubernetes", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get(name: str | None = None) -> Any:
    """A structlog logger."""
    return structlog.get_logger(name)
