"""The Temporal authorization matrix: what each identity may really ask of Temporal.

For every identity of the contract we obtain what its worker holds — its own Vault login
(projected ServiceAccount token) and the client certificate that login issues — and, through
the stack's Temporal address (the authorization front), *try* every call a compromised
worker would (:mod:`orders.front.probes`): poll every other identity's workflow and activity
queue, answer a task handed to someone else, the ``*ById`` completions, start, signal,
update, query, terminate, reset, delete and namespace administration. The answer must equal
the contract (:func:`orders.contract.temporal_access.temporal_access`): allowed calls reach Temporal
(which may then say NOT_FOUND or INVALID_ARGUMENT, or let a long poll run out), refused ones
are an immediate ``PERMISSION_DENIED``. The front enforces its rendered rules *file*, this
test reads the contract, so widening either alone fails here.
"""

from __future__ import annotations

import asyncio
import uuid

import grpc
import httpx
import psutil
import pytest
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsv1

from orders.contract import api, identities, pki_names
from orders.contract.identities import Identity
from orders.devstack import actas
from orders.devstack.servers import bridge_sockets
from orders.devstack.state import StackInfo, StackPaths, Status
from orders.front.decide import WORKFLOW_SERVICE
from orders.front.probes import NS, Probe, attempt, channel, holdings
from orders.front.tokens import TokenBinding
from orders.security import certs
from orders.security.trust import httpx_verify
from orders.verify.temporal_matrix import HANDED, identity_probes, wrong_for

pytestmark = pytest.mark.integration


def _holdings(stack: StackInfo, paths: StackPaths, identity: Identity) -> certs.IssuedCert:
    return holdings(actas.login_as(stack, paths, identity), identity)


@pytest.mark.parametrize("identity", identities.ALL, ids=lambda i: i.name)
async def test_temporal_answers_each_identity_as_the_contract_says(
    stack: StackInfo, stack_paths: StackPaths, tokens: TokenBinding, identity: Identity
) -> None:
    cert = await asyncio.to_thread(_holdings, stack, stack_paths, identity)
    assert stack.ca_file
    assert stack.temporal_server_name
    address, ca, name = stack.temporal_address, stack.ca_file, stack.temporal_server_name
    mine = identity_probes(tokens, identity)
    assert len(mine) > 40
    wrong = await wrong_for(address, ca, name, cert, identity, mine)
    assert not wrong, "\n".join(wrong)
    # Without the front's key (``orders verify`` by an operator who does not hold it), a
    # task token carries a forged tag: refused to everyone, its addressee included.
    forged = [p for p in identity_probes(None, identity) if p.name.startswith(HANDED)]
    assert len(forged) == len(list(identities.workers()))
    assert await wrong_for(address, ca, name, cert, identity, forged) == []


async def test_no_identity_reaches_the_frontend_around_the_front(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    """The dev server has no port on the host; its bridge wants the internode CA's certs."""
    status = Status.load(stack_paths)
    assert status is not None
    runner = psutil.Process(status.processes["temporal"])
    server = next(p for p in runner.children() if "start-dev" in p.cmdline())
    cmd = server.cmdline()
    port = int(cmd[cmd.index("--port") + 1])
    with pytest.raises(ConnectionRefusedError):  # nothing listens there in the host's namespace
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
    cert = await asyncio.to_thread(_holdings, stack, stack_paths, identities.ORDER_CLIENT)
    frontend, _ = bridge_sockets(stack_paths)
    assert stack.ca_file
    probe = Probe(
        "describe", WORKFLOW_SERVICE, "DescribeNamespace",
        wsv1.DescribeNamespaceRequest(namespace=NS), lambda _: False, timeout=3,
    )  # fmt: skip
    target = f"unix:{frontend}"
    async with channel(target, stack.ca_file, pki_names.TEMPORAL_FRONTEND_NAME, cert) as chan:
        code, _ = await attempt(chan, probe)
    # The identity's certificate chains to the Vault root CA, not to the internode CA.
    assert code is grpc.StatusCode.UNAVAILABLE


async def test_the_ui_is_read_only(stack: StackInfo) -> None:
    """The dev server's UI talks to the frontend from inside its namespace: no writes."""
    wid = f"{api.ORDER_ID_PREFIX}ui-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(verify=httpx_verify(stack.verify), timeout=10) as http:
        listed = await http.get(f"{stack.ui_url}/api/v1/namespaces/{NS}/workflows")
        terminate = await http.post(
            f"{stack.ui_url}/api/v1/namespaces/{NS}/workflows/{wid}/terminate", json={}
        )
    assert listed.status_code == 200
    assert terminate.status_code == 403
