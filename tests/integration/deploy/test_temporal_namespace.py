"""The namespace-registration step against the real dev stack (``setup namespace``).

The dev server authorizes nothing, so this proves the step's wiring rather than the
authorizer's answer: the admin JWT is minted by the stack's OpenBao, the client
certificate of the ``temporal-admin`` role passes the mTLS front, a fresh namespace is
registered with the intended retention, and a second run (and the stack's own ``orders``
namespace) answers "exists" without error.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from orders import identities
from orders.deploy import setup, temporal_namespace
from orders.devstack.state import StackInfo

pytestmark = pytest.mark.integration


def _args(stack: StackInfo, namespace: str) -> argparse.Namespace:
    assert stack.ca_file
    assert stack.temporal_server_name
    return argparse.Namespace(
        vault_addr=stack.vault_addr,
        root_token_file=Path(stack.vault_root_token_file),
        vault_ca_file=[Path(stack.ca_file)],
        temporal_address=stack.temporal_address,
        temporal_ca_file=Path(stack.ca_file),
        temporal_server_name=stack.temporal_server_name,
        namespace=namespace,
    )


async def _retention_seconds(client: Client, namespace: str) -> int:
    found = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace)
    )
    return found.config.workflow_execution_retention_ttl.seconds


async def test_registers_once_then_reports_exists(stack: StackInfo, client: Client) -> None:
    fresh = f"authboot-{uuid.uuid4().hex[:8]}"
    first = await asyncio.to_thread(setup.namespace, _args(stack, fresh))
    second = await asyncio.to_thread(setup.namespace, _args(stack, fresh))
    assert (first, second) == (temporal_namespace.REGISTERED, temporal_namespace.EXISTS)
    expected = int(temporal_namespace.RETENTION.total_seconds())
    assert await _retention_seconds(client, fresh) == expected


async def test_the_stacks_own_namespace_exists(stack: StackInfo) -> None:
    result = await asyncio.to_thread(setup.namespace, _args(stack, identities.TEMPORAL_NAMESPACE))
    assert result == temporal_namespace.EXISTS
