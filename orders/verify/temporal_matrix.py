"""Temporal authorization matrix through the front: each identity's calls, as the contract says.

Every identity of the contract gets what its worker holds (its own Vault login and the
client certificate it issues) and tries, through the target's Temporal address, every call
of :mod:`orders.front.probes`. Allowed calls must reach Temporal, refused ones come back
``PERMISSION_DENIED`` at once. Shared by ``orders verify`` and
``tests/integration/front/test_authz_matrix.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from pathlib import Path

from orders.contract import identities, temporal_access
from orders.contract.identities import Identity
from orders.front.probes import Probe, attempt, channel, holdings, probes, wrong_answers
from orders.front.tokens import MIN_KEY_BYTES, TokenBinding
from orders.security import certs
from orders.verify import seat
from orders.verify.report import CheckResult, result
from orders.verify.target import Target

HANDED = "complete an activity task handed to"


def _never(_: temporal_access.TemporalAccess) -> bool:
    return False


def identity_probes(tokens: TokenBinding | None, identity: Identity) -> list[Probe]:
    """The matrix for ``identity``; without the front's key, task tokens carry a forged tag.

    A token whose tag the front cannot verify must be refused to everyone, its own
    addressee included: so the probes stay, expecting PERMISSION_DENIED.
    """
    if tokens is not None:
        return list(probes(tokens, identity))
    forged = TokenBinding(secrets.token_bytes(MIN_KEY_BYTES))
    return [
        dataclasses.replace(p, name=f"{p.name} (forged tag)", allowed=_never)
        if p.name.startswith(HANDED)
        else p
        for p in probes(forged, identity)
    ]


async def wrong_for(
    address: str,
    ca_file: str | Path,
    server_name: str,
    cert: certs.IssuedCert,
    identity: Identity,
    mine: list[Probe],
) -> list[str]:
    """Every call of ``mine`` whose answer differs from the contract for ``identity``."""
    async with channel(address, ca_file, server_name, cert) as chan:
        answers = await asyncio.gather(*(attempt(chan, p) for p in mine))
    access = temporal_access.temporal_access(identity)
    return [f"{identity.name}: {w}" for w in wrong_answers(access, mine, answers)]


async def _identity(
    target: Target, tokens: TokenBinding | None, identity: Identity
) -> tuple[list[str], int]:
    vault = await asyncio.to_thread(seat.login_as, target, identity)
    cert = await asyncio.to_thread(holdings, vault, identity)
    t = target.temporal
    mine = identity_probes(tokens, identity)
    return await wrong_for(t.address, t.ca_file, t.server_name, cert, identity, mine), len(mine)


async def check(target: Target) -> CheckResult:
    """The matrix for every identity of the contract."""
    started = time.monotonic()
    key_file = target.temporal.front_token_key_file
    tokens = TokenBinding(key_file.read_bytes()) if key_file else None
    found = await asyncio.gather(*(_identity(target, tokens, i) for i in identities.ALL))
    problems = [p for ps, _ in found for p in ps]
    calls = sum(n for _, n in found)
    note = "" if tokens else " (no front key: task tokens with a forged tag)"
    return result(
        "temporal-authorization",
        started,
        problems,
        f"{len(identities.ALL)} identities, {calls} calls answered as the contract says{note}",
    )
