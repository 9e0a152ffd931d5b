"""Fixtures shared by unit tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def cli_logging() -> Iterator[None]:
    """Restore logging after the CLI configured it onto a captured (later closed) stderr.

    Autouse: any test may run the CLI (``orders --help`` runs its callback, which configures
    logging), and a later test logging to the closed stream would fail far from the cause.
    """
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**saved)
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)
