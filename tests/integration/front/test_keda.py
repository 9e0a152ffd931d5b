"""KEDA's scaler at the real front: with its own token it reads the workers' backlogs, nothing else.

KEDA obtains everything from its own Vault login (``keda-scaler`` policy): a client certificate
from ``pki_int/issue/keda-scaler`` (CN ``keda-scaler``) and a Temporal JWT
(``identity/oidc/token/keda-scaler``, ``orders:read``, sent as ``apiKey``, i.e. a bearer).
Here both are fetched from the stack's OpenBao as the overlay's TriggerAuthentication says,
the way KEDA's resolver fetches them (:mod:`tests.support.keda`), and presented to the front:

* with its token: exactly ``DescribeTaskQueue`` on each worker's queue (what KEDA's
  ``temporal`` scaler calls) and ``PERMISSION_DENIED`` at once for every other call of the
  matrix: polling, answering tasks, start, signal, update, query, history, list, terminate,
  namespace administration, and describing a queue that is not a worker's;
* without a token, with another identity's, or with a person's: ``UNAUTHENTICATED`` (an
  authorizing Temporal would refuse it; the front says why first).

(Every identity's matrix, ``test_authz_matrix.py``, has the same ``DescribeTaskQueue`` probes,
refused to them all.)
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from orders.contract import identities, keda, temporal_access
from orders.devstack.state import StackInfo, StackPaths
from orders.front.probes import attempt, channel, probes, wrong_answers
from orders.front.tokens import TokenBinding
from orders.security import certs
from tests.support import stack as support
from tests.support.keda import certificates_only, resolve, scaler_login

pytestmark = pytest.mark.integration


async def _scaler(stack: StackInfo, ca_file: Path) -> tuple[certs.IssuedCert, str]:
    """The certificate and token KEDA would hold; its CA written to ``ca_file``."""
    root = support.vault(stack, stack.root_token())
    login = await asyncio.to_thread(scaler_login, root, stack.verify)
    try:
        values = await asyncio.to_thread(resolve, login)
    finally:
        await asyncio.to_thread(login.auth.token.revoke_self)
    ca_file.write_text(values["ca"])
    cert = certs.IssuedCert(
        certificate=certificates_only(values["cert"]),
        private_key=values["key"],
        chain="",
        serial="",
        not_after=datetime.now(UTC),
    )
    return cert, values["apiKey"]


async def test_keda_reads_backlogs_with_its_token_and_nothing_else(
    stack: StackInfo, stack_paths: StackPaths, tokens: TokenBinding, tmp_path: Path
) -> None:
    cert, token = await _scaler(stack, tmp_path / "keda-ca.pem")
    mine = list(probes(tokens, keda.PRINCIPAL))
    allowed = {p.name for p in mine if p.allowed(temporal_access.keda_access())}
    # What it may: its queues' backlogs (and the harmless connect-time calls).
    assert allowed == {
        *(f"describe task queue {i.task_queue}" for i in identities.workers()),
        "describe the namespace",
    }
    backlog = next(p for p in mine if p.name.startswith("describe task queue"))
    others = {
        "no token": "",
        "another identity's": await asyncio.to_thread(
            support.machine_token, stack, stack_paths, identities.ORDER_CLIENT
        ),
        "a person's": await support.person_token(stack, stack_paths, "dev-viewer"),
    }
    assert stack.temporal_server_name
    front = (stack.temporal_address, tmp_path / "keda-ca.pem", stack.temporal_server_name)
    async with channel(*front, cert) as chan:
        answers = await asyncio.gather(*(attempt(chan, p, token) for p in mine))
        assert wrong_answers(temporal_access.keda_access(), mine, answers) == []
        # Its certificate alone, or with anyone else's token, reads nothing.
        for what, bearer in others.items():
            code, _ = await attempt(chan, backlog, bearer or None)
            assert code is grpc.StatusCode.UNAUTHENTICATED, what
