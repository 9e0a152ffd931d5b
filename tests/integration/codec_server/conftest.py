"""Fixtures for the codec server tests: its URL, people's tokens, payloads to decode."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import WorkflowSerializationContext

from orders import oidc
from orders.devstack import people as dev_people
from orders.devstack.state import StackInfo, StackPaths
from orders.security.codec import EnvelopeCodec
from orders.security.trust import httpx_verify
from tests.support.stack_codec import Sealer, TokenFor


@pytest.fixture(scope="session")
def codec_url(stack: StackInfo) -> str:
    assert stack.codec_server_url, "the stack must run a codec server"
    return stack.codec_server_url


@pytest.fixture
async def http(codec_url: str, stack: StackInfo) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTPS client of the codec server, trusting the stack's CA."""
    async with httpx.AsyncClient(
        base_url=codec_url, timeout=30, verify=httpx_verify(stack.verify)
    ) as c:
        yield c


@pytest.fixture(scope="session")
def codec_client_id(stack: StackInfo) -> str:
    assert stack.codec_client_id, "the stack must register the codec server's OIDC client"
    return stack.codec_client_id


@pytest.fixture(scope="session")
def token_for(stack: StackInfo, stack_paths: StackPaths, codec_client_id: str) -> TokenFor:
    """A fresh ID token of a dev person from OpenBao's provider (code flow with PKCE)."""

    async def mint(user: str) -> str:
        password = dev_people.dev_password(stack_paths, user)
        return await oidc.fetch_person_token(
            stack.vault_addr, codec_client_id, user, password, verify=stack.verify
        )

    return mint


@pytest.fixture(scope="session")
def encrypt(client: Client) -> Sealer:
    """Encrypt a JSON value as a worker would, bound to (namespace, workflow id)."""
    codec = client.data_converter.payload_codec
    assert isinstance(codec, EnvelopeCodec)

    async def seal(value: object, namespace: str, workflow_id: str) -> Payload:
        bound = codec
        if namespace != codec.namespace:
            bound = copy.copy(codec)
            bound.namespace = namespace
        context = WorkflowSerializationContext(namespace=namespace, workflow_id=workflow_id)
        plain = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())
        [sealed] = await bound.with_context(context).encode([plain])
        return sealed

    return seal
