"""Data keys and Transit answers while Vault is away or a login has expired.

Against a real OpenBao dev server (and a port nothing listens on for the outage): a
process holding a data key keeps sealing with it through an outage, up to twice its
limits; a 403 caused by an expired token is a retry, a 403 caused by policy a denial.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from orders.contract import identities, transit_names
from orders.security.keyring import KeyRing
from orders.security.transit import DataKey, TransitClient, TransitDeniedError
from orders.security.vault import VaultUnavailableError
from tests.support.openbao import DevVault, dev_vault, unreachable_transit

__all__ = ["dev_vault"]


def _ring_with_key(age: float, uses: int = 0) -> KeyRing:
    ring = KeyRing(unreachable_transit(), transit_names.PAYLOAD_KEY, max_uses=10, max_age=60.0)
    ring._current = DataKey(b"k" * 32, "vault:v1:wrapped", 1)
    ring._created = time.monotonic() - age
    ring._uses = uses
    return ring


async def test_an_outage_keeps_the_current_key_within_twice_its_limits() -> None:
    ring = _ring_with_key(age=61.0)  # due for replacement, but Vault is down
    key = await ring.current()
    assert key.wrapped == "vault:v1:wrapped"
    assert ring.new_keys == 0


@pytest.mark.parametrize(("age", "uses"), [(121.0, 0), (1.0, 20), (61.0, 20)])
async def test_beyond_twice_its_limits_an_outage_is_an_error(age: float, uses: int) -> None:
    ring = _ring_with_key(age=age, uses=uses)
    with pytest.raises(VaultUnavailableError):
        await ring.current()


async def test_no_key_yet_and_no_vault_is_an_error() -> None:
    ring = KeyRing(unreachable_transit(), transit_names.PAYLOAD_KEY)
    with pytest.raises(VaultUnavailableError):
        await ring.current()


async def test_a_403_with_an_expired_token_is_a_retry(dev_vault: DevVault) -> None:
    async def gone() -> bool:
        return False

    transit = TransitClient(dev_vault.addr, lambda: "s.expired", token_valid=gone)
    try:
        with pytest.raises(VaultUnavailableError, match="expired"):
            await transit.datakey(transit_names.PAYLOAD_KEY)
    finally:
        await transit.aclose()


async def test_a_403_with_a_valid_token_is_a_denial(dev_vault: DevVault) -> None:
    async def fine() -> bool:
        return True

    address = next(s for s in transit_names.SEALED_FIELDS if s.consumer is identities.ORDER_FULFILL)
    token = dev_vault.token_for(identities.ORDER_NOTIFY)  # may not touch the address key
    transit = TransitClient(dev_vault.addr, lambda: token, token_valid=fine)
    try:
        with pytest.raises(TransitDeniedError):
            await transit.decrypt(address.key, "vault:v1:AAAA")
    finally:
        await transit.aclose()


async def test_with_no_usable_key_an_unwrap_waits_for_vault_to_come_back(
    dev_vault: DevVault,
) -> None:
    token = dev_vault.token_for(identities.ORDER_WORKFLOW)

    async def fine() -> bool:
        return True

    vault = TransitClient(dev_vault.addr, lambda: token, token_valid=fine)
    try:
        wrapped = await vault.datakey(transit_names.PAYLOAD_KEY)
        ring = KeyRing(unreachable_transit(), transit_names.PAYLOAD_KEY, outage_wait=10.0)

        async def vault_returns() -> None:
            await asyncio.sleep(0.5)
            ring.transit = vault

        back = asyncio.create_task(vault_returns())
        started = time.monotonic()
        assert await ring.unwrap(wrapped.wrapped) == wrapped.plaintext
        assert time.monotonic() - started >= 0.5
        assert ring.unwraps == 1
        await back
    finally:
        await vault.aclose()


async def test_the_wait_for_vault_is_bounded() -> None:
    ring = KeyRing(unreachable_transit(), transit_names.PAYLOAD_KEY, outage_wait=0.6)
    started = time.monotonic()
    with pytest.raises(VaultUnavailableError):
        await ring.current()
    assert 0.4 <= time.monotonic() - started < 5.0
