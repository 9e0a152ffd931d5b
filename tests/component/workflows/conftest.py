"""Fixtures of the workflow tests: the fake shop on a local Temporal dev server.

The sealed fields go through the dev OpenBao's Transit keys (each stand-in activity
unseals with its own identity's token); the approvers' keys are generated per module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.contrib.opentelemetry import TracingInterceptor

from orders.contract import approval_policy, identities
from orders.security.sealing import Sealer, Unsealer
from tests.support.openbao import Transits, dev_vault, transits
from tests.support.shop import (
    FULFILL,
    NOTIFY,
    PAY,
    FakeShop,
    Harness,
    VaultSeals,
    running_shop,
)
from tests.support.spans import Collected, collecting

__all__ = ["dev_vault", "harness", "transits"]  # fixtures, imported so pytest finds them


@pytest.fixture(scope="module")
def spans() -> Collected:
    """Every span the harness's client and workers ended, as the interceptor made them."""
    return Collected()


@pytest_asyncio.fixture(scope="module")
async def harness(transits: Transits, spans: Collected) -> AsyncIterator[Harness]:
    """The shop and its workers on a local dev server, one per test module, traced."""
    consumers = {name: identities.activity_identity(name) for name in (PAY, FULFILL, NOTIFY)}
    seals = VaultSeals(
        Sealer(transits(identities.ORDER_CLIENT)),
        {name: Unsealer(transits(ident), ident) for name, ident in consumers.items()},
    )
    keys = {a.name: {1: Ed25519PrivateKey.generate()} for a in approval_policy.APPROVERS}
    shop = FakeShop(seals, approver_keys=keys)
    tracer = TracingInterceptor(collecting(spans).get_tracer(__name__))
    async with running_shop(shop, interceptors=[tracer]) as harness:
        yield harness
