"""KEDA's scaler at the real front: it reads the workers' backlogs and can do nothing else.

The operator issues KEDA a client certificate from ``pki_int/roles/keda-scaler`` (CN
``keda-scaler``, client usage); through the stack's front that certificate gets exactly
``DescribeTaskQueue`` on each worker's queue (what KEDA's ``temporal`` scaler calls) and
``PERMISSION_DENIED`` at once for every other call of the matrix: polling any queue,
answering any task, start, signal, update, query, history, list, terminate, namespace
administration, and describing a queue that is not a worker's. (Every identity's matrix,
``test_authz_matrix.py``, has the same ``DescribeTaskQueue`` probes, refused to them all.)
"""

from __future__ import annotations

import asyncio

import pytest

from orders.contract import identities, pki_names, temporal_access
from orders.devstack.state import StackInfo
from orders.front.probes import attempt, channel, probes, wrong_answers
from orders.front.tokens import TokenBinding
from orders.security import certs
from tests.support import stack as support

pytestmark = pytest.mark.integration

KEDA = pki_names.KEDA_CERT_NAME


async def test_keda_reads_backlogs_and_nothing_else(stack: StackInfo, tokens: TokenBinding) -> None:
    root = support.vault(stack, stack.root_token())
    cert = await asyncio.to_thread(certs.issue, root, pki_names.PKI_KEDA_ROLE, KEDA)
    mine = list(probes(tokens, KEDA))
    allowed = {p.name for p in mine if p.allowed(temporal_access.keda_access())}
    # What it may: its queues' backlogs (and the harmless connect-time calls).
    assert allowed == {
        *(f"describe task queue {i.task_queue}" for i in identities.workers()),
        "describe the namespace",
    }
    assert stack.ca_file
    assert stack.temporal_server_name
    front = (stack.temporal_address, stack.ca_file, stack.temporal_server_name)
    async with channel(*front, cert) as chan:
        answers = await asyncio.gather(*(attempt(chan, p) for p in mine))
    assert wrong_answers(temporal_access.keda_access(), mine, answers) == []
