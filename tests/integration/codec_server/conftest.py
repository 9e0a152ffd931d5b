"""Fixtures for the codec server tests: its URL, people's tokens, payloads to decode."""

from __future__ import annotations

import copy
import json
from collections.abc import Awaitable, Callable

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import WorkflowSerializationContext

from orders import identities, vault_people
from orders.devstack.state import StackInfo, StackPaths
from orders.security.codec import EnvelopeCodec

NS = identities.TEMPORAL_NAMESPACE
TokenFor = Callable[[str], Awaitable[str]]
Sealer = Callable[[object, str, str], Awaitable[Payload]]


@pytest.fixture(scope="session")
def codec_url(stack: StackInfo) -> str:
    assert stack.codec_server_url, "the stack must run a codec server"
    return stack.codec_server_url


@pytest.fixture(scope="session")
def token_for(stack: StackInfo, stack_paths: StackPaths) -> TokenFor:
    """A fresh identity token of a dev user, minted by OpenBao (userpass login)."""

    async def mint(user: str) -> str:
        password = vault_people.dev_password(stack_paths, user)
        return await vault_people.fetch_person_token(
            stack.vault_addr, user, password, verify=stack.verify
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
