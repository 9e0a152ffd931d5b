"""What the authorization front adds to a workflow start, for tests on the SDK's test server.

On the real stack the front sets the ``orders-placed-by`` header on every start (whatever
the caller sent). Unit tests run the workflow on Temporal's test server without the front,
so their client sets the header the front would have set.
"""

from __future__ import annotations

import json
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.client import Client, Interceptor, OutboundInterceptor, StartWorkflowInput

from orders.contract import api


def placed_by_payload(label: str) -> Payload:
    """The header value the front sets: ``person:<name>`` or ``identity:<name>``."""
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(label).encode())


class _PlacedBy(Interceptor):
    def __init__(self, label: str) -> None:
        self.label = label

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Outbound(next, self.label)


class _Outbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, label: str) -> None:
        super().__init__(next)
        self.label = label

    async def start_workflow(self, input: StartWorkflowInput) -> Any:
        input.headers = {
            **input.headers,
            api.PLACED_BY_HEADER: placed_by_payload(self.label),
        }
        return await super().start_workflow(input)


def placed_by(client: Client, label: str) -> Client:
    """``client``, starting workflows as the front would record ``label`` placing them."""
    config = client.config()
    config["interceptors"] = [*config["interceptors"], _PlacedBy(label)]
    return Client(**config)
