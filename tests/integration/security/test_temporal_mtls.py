"""Temporal's frontend is reached only through the mTLS front, with a Vault-issued cert.

Refused: plaintext, TLS without a client certificate, a certificate from another CA (even
naming a real identity), an expired Vault-issued certificate. Accepted: the identity's
current certificate. And workers renew theirs and swap their client while orders run.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, TLSConfig

from orders import evidence, temporal
from orders.contract import identities, pki_names
from orders.devstack import tls
from orders.devstack.state import StackInfo, StackPaths
from orders.models import Outcome
from orders.security import certs
from tests.support import stack as support

pytestmark = pytest.mark.integration

REFUSED = (RuntimeError, RPCError)


async def _connect(stack: StackInfo, tls: TLSConfig | bool) -> Client:
    client = await Client.connect(stack.temporal_address, namespace=stack.namespace, tls=tls)
    await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=stack.namespace), timeout=timedelta(seconds=5)
    )
    return client


def _tls(stack: StackInfo, cert: certs.IssuedCert | None = None) -> TLSConfig:
    assert stack.ca_file is not None
    assert stack.temporal_server_name is not None
    return temporal.tls_config(Path(stack.ca_file).read_bytes(), stack.temporal_server_name, cert)


def _foreign_cert(identity: identities.Identity) -> certs.IssuedCert:
    """A client certificate shaped like the identity's own, signed by a CA nobody trusts."""
    ca_key, ca = tls.new_ca("orders dev root CA", timedelta(hours=1))
    sans = [x509.UniformResourceIdentifier(pki_names.cert_uri(identity))]
    key, cert = tls.new_leaf(
        ca_key, ca, identity.name, sans, timedelta(hours=1), ExtendedKeyUsageOID.CLIENT_AUTH
    )
    pem = serialization.Encoding.PEM
    return certs.IssuedCert(
        certificate=cert.public_bytes(pem).decode(),
        private_key=tls.key_pem(key).decode(),
        chain=ca.public_bytes(pem).decode(),
        serial=f"{cert.serial_number:x}",
        not_after=cert.not_valid_after_utc,
    )


async def test_own_vault_issued_certificate_is_accepted(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    vault = support.login_as(stack, stack_paths, identities.ORDER_CLIENT)
    cert = certs.issue_client(vault, identities.ORDER_CLIENT)
    await _connect(stack, _tls(stack, cert))
    vault.auth.token.revoke_self()


async def test_plaintext_is_refused(stack: StackInfo) -> None:
    with pytest.raises(REFUSED):
        await _connect(stack, False)
    # The UI is behind the same front, HTTPS only.
    async with httpx.AsyncClient(timeout=5) as http:
        resp = await http.get(stack.ui_url.replace("https://", "http://", 1))
    assert resp.status_code == 400
    assert "plain HTTP request was sent to HTTPS port" in resp.text


async def test_tls_without_a_client_certificate_is_refused(stack: StackInfo) -> None:
    with pytest.raises(REFUSED):
        await _connect(stack, _tls(stack))


async def test_certificate_from_another_ca_is_refused(stack: StackInfo) -> None:
    with pytest.raises(REFUSED):
        await _connect(stack, _tls(stack, _foreign_cert(identities.ORDER_CLIENT)))


async def test_expired_certificate_is_refused(stack: StackInfo, stack_paths: StackPaths) -> None:
    vault = support.login_as(stack, stack_paths, identities.ORDER_CLIENT)
    cert = certs.issue(
        vault,
        pki_names.pki_role(identities.ORDER_CLIENT),
        identities.ORDER_CLIENT.name,
        uri_sans=(pki_names.cert_uri(identities.ORDER_CLIENT),),
        ttl="2s",
    )
    vault.auth.token.revoke_self()
    await asyncio.sleep(max(0.0, (cert.not_after - datetime.now(UTC)).total_seconds()) + 1.5)
    with pytest.raises(REFUSED):
        await _connect(stack, _tls(stack, cert))


def _swaps(stack_paths: StackPaths, identity: identities.Identity) -> int:
    lines = stack_paths.log_file(identity.name).read_text().splitlines()
    return sum(1 for line in lines if '"temporal.client.swapped"' in line)


async def test_orders_flow_across_client_certificate_rotations(
    stack: StackInfo, stack_paths: StackPaths, client: Client
) -> None:
    """Every worker swaps its client at least twice while orders run; none fails."""
    workers = list(identities.workers())
    start = {w.name: _swaps(stack_paths, w) for w in workers}
    placed: list[str] = []
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        batch = [support.make_order("rot") for _ in range(2)]
        results = await asyncio.gather(*(support.complete(client, o) for o in batch))
        assert [r.outcome for r in results] == [Outcome.COMPLETED] * len(batch)
        placed += [o.workflow_id for o in batch]
        if all(_swaps(stack_paths, w) - start[w.name] >= 2 for w in workers):
            break
        await asyncio.sleep(1)
    swapped = {w.name: _swaps(stack_paths, w) - start[w.name] for w in workers}
    assert all(n >= 2 for n in swapped.values()), swapped
    # Not one activity attempt failed (a refused or dropped connection would show here).
    for wid in placed:
        for run in await evidence.activity_runs(client, wid):
            assert run.attempt == 1, (wid, run)
            assert not run.failed
