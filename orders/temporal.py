"""The one Temporal client factory: every client and worker connects through here.

Keeping a single factory is what lets the payload codec be added in one place so that no
path can forget it.
"""

from __future__ import annotations

import asyncio

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from orders import logging as olog

log = olog.get(__name__)


async def connect(address: str, namespace: str, *, attempts: int = 30) -> Client:
    """Connect to Temporal, retrying while the frontend comes up.

    Args:
        address: ``host:port`` of the frontend.
        namespace: Temporal namespace.
        attempts: How many one-second-spaced tries before giving up.

    Returns:
        A client using the pydantic data converter.
    """
    for attempt in range(1, attempts + 1):
        try:
            return await Client.connect(
                address, namespace=namespace, data_converter=pydantic_data_converter
            )
        except (RuntimeError, RPCError) as exc:
            if attempt == attempts:
                raise
            log.warning("temporal.unavailable", error=type(exc).__name__, attempt=attempt)
            await asyncio.sleep(1)
    raise AssertionError("unreachable")
