"""One audience per token kind at Temporal (#16): each token is accepted at one place only.

Four kinds of token, each with its own ``aud`` (:mod:`orders.front.bearers`): a person's
token for Temporal (OIDC client ``temporal-cli``), a person's token for the codec server
(client ``codec-server``), the UI's (``temporal-ui``; the dev stack's UI has no login, so
that one is unit tested) and each identity's own machine token (``temporal:<identity>``).
Every wrong kind is presented at every acceptor on the real stack and refused
(``UNAUTHENTICATED`` at the front, 401 at the codec server); the right kind is accepted.
"""

from __future__ import annotations

import asyncio

import grpc
import httpx
import pytest
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsv1

from orders.contract import identities
from orders.contract.identities import Identity
from orders.devstack import actas
from orders.devstack.state import StackInfo, StackPaths
from orders.front.decide import WORKFLOW_SERVICE
from orders.front.probes import NS, Probe, attempt, channel, holdings
from orders.security import certs
from orders.security.trust import httpx_verify
from tests.support import stack as support
from tests.support.stack import orders_cli

pytestmark = pytest.mark.integration

VIEWER = "dev-viewer"
"""A person who may read the namespace (``orders:read``): accepted wherever their token is."""
DESCRIBE = Probe(
    "describe the namespace", WORKFLOW_SERVICE, "DescribeNamespace",
    wsv1.DescribeNamespaceRequest(namespace=NS), lambda _: True,
)  # fmt: skip
CALLER = identities.ORDER_CLIENT
OTHER = identities.ORDER_VALIDATE
PERSON_KINDS = ("temporal-cli", "codec-server")


async def _token(stack: StackInfo, paths: StackPaths, kind: str) -> str:
    """A fresh token of ``kind``: a person's for one OIDC client, or an identity's own."""
    if kind in PERSON_KINDS:
        client = stack.temporal_client_id if kind == "temporal-cli" else stack.codec_client_id
        assert client, f"the stack registers the {kind} client"
        return await support.person_token(stack, paths, VIEWER, client)
    return await asyncio.to_thread(support.machine_token, stack, paths, identities.get(kind))


def _cert(stack: StackInfo, paths: StackPaths, identity: Identity) -> certs.IssuedCert:
    return holdings(actas.login_as(stack, paths, identity), identity)


async def _describe(
    stack: StackInfo, target: str | None, cert: certs.IssuedCert | None, bearer: str
) -> grpc.StatusCode:
    assert target, "the stack has that port"
    assert stack.ca_file
    assert stack.temporal_server_name
    async with channel(target, stack.ca_file, stack.temporal_server_name, cert) as chan:
        code, _ = await attempt(chan, DESCRIBE, bearer)
    return code


async def _persons_port(stack: StackInfo, bearer: str) -> grpc.StatusCode:
    return await _describe(stack, stack.temporal_people_address, None, bearer)


async def _identities_port(
    stack: StackInfo, paths: StackPaths, bearer: str, identity: Identity = CALLER
) -> grpc.StatusCode:
    cert = await asyncio.to_thread(_cert, stack, paths, identity)
    return await _describe(stack, stack.temporal_address, cert, bearer)


async def test_persons_port_accepts_a_persons_token_for_temporal(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    token = await _token(stack, stack_paths, "temporal-cli")
    assert await _persons_port(stack, token) is grpc.StatusCode.OK


@pytest.mark.parametrize("kind", ["codec-server", CALLER.name])
async def test_persons_port_refuses_the_codec_servers_and_machine_tokens(
    stack: StackInfo, stack_paths: StackPaths, kind: str
) -> None:
    token = await _token(stack, stack_paths, kind)
    assert await _persons_port(stack, token) is grpc.StatusCode.UNAUTHENTICATED


async def test_identities_port_accepts_the_identitys_own_token(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    token = await _token(stack, stack_paths, CALLER.name)
    assert await _identities_port(stack, stack_paths, token) is grpc.StatusCode.OK


@pytest.mark.parametrize("kind", [*PERSON_KINDS, OTHER.name])
async def test_identities_port_refuses_persons_and_other_identities_tokens(
    stack: StackInfo, stack_paths: StackPaths, kind: str
) -> None:
    """A certificate does not carry someone else's token to Temporal (it authorizes with it)."""
    token = await _token(stack, stack_paths, kind)
    assert await _identities_port(stack, stack_paths, token) is grpc.StatusCode.UNAUTHENTICATED


async def test_an_identity_without_a_temporal_token_forwards_none(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    token = await _token(stack, stack_paths, CALLER.name)
    code = await _identities_port(stack, stack_paths, token, identities.CODEC_SERVER)
    assert code is grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(("kind", "status"), [("codec-server", 200), ("temporal-cli", 401)])
async def test_codec_server_takes_only_its_own_persons_tokens(
    stack: StackInfo, stack_paths: StackPaths, kind: str, status: int
) -> None:
    """A token Temporal receives (the CLI's) cannot be replayed at the codec server."""
    assert stack.codec_server_url
    token = await _token(stack, stack_paths, kind)
    async with httpx.AsyncClient(verify=httpx_verify(stack.verify), timeout=10) as http:
        resp = await http.post(
            f"{stack.codec_server_url}/decode",
            headers={"Authorization": f"Bearer {token}", "X-Namespace": NS},
            json={"payloads": []},
        )
    assert resp.status_code == status, resp.text


async def test_orders_login_for_temporal_prints_a_token_the_persons_port_takes(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    """``orders login --for temporal``; its default (the codec server's) is refused above."""
    done = await asyncio.to_thread(
        orders_cli, stack_paths, "login", "--user", VIEWER, "--for", "temporal"
    )
    assert done.returncode == 0, done.stderr
    assert await _persons_port(stack, done.stdout.strip()) is grpc.StatusCode.OK
