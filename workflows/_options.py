"""Activity timeouts and retries shared by the saga's steps and its approval reads."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from temporalio.common import RetryPolicy

STEP_TIMEOUT: Final = timedelta(seconds=10)
"""One attempt of a step (start to close)."""
STEP_DEADLINE: Final = timedelta(minutes=10)
"""All attempts of a step (schedule to close): retries are bounded."""
STEP_RETRY: Final = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
)
