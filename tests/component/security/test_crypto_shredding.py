"""Crypto-shredding against a real OpenBao with the project's literal policies.

Destroying a customer's Transit key (the eraser's right, and only the eraser's) makes every
``sealed:v2`` value of that customer unopenable by every consumer, while other customers'
values and values sealed before per-customer keys (``v1``) still open.
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from orders.contract import identities
from orders.contract.transit_names import SEALED_FIELDS, SealedField, customer_key
from orders.security.customer_keys import CustomerErasedError, CustomerKeys
from orders.security.keyring import KeyRing
from orders.security.sealing import Sealer, Unsealer, customer_tag, seal_context
from orders.security.transit import TransitDeniedError
from tests.support.openbao import Transits, dev_vault, transits

__all__ = ["dev_vault", "transits"]  # fixtures, imported so pytest finds them here

ADDRESS = "12 Erasure Lane, Forgetham"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_erased_customer_no_longer_opens_others_still_do(transits: Transits) -> None:
    order_a, order_b = f"ord-{uuid.uuid4()}", f"ord-{uuid.uuid4()}"
    a, b = f"cust-a-{uuid.uuid4().hex[:8]}", f"cust-b-{uuid.uuid4().hex[:8]}"
    sealer = Sealer(transits(identities.ORDER_CLIENT))
    sealed_a = await sealer.seal("shipping_address", order_a, ADDRESS, a)
    sealed_b = await sealer.seal("shipping_address", order_b, ADDRESS, b)
    tag_a = customer_tag(sealed_a)
    assert tag_a is not None
    assert tag_a != customer_tag(sealed_b)
    assert a not in sealed_a

    eraser = transits(identities.CUSTOMER_ERASER)
    assert await CustomerKeys(eraser).tag(a) == tag_a  # the eraser finds the same key
    assert await eraser.destroy_key(customer_key(tag_a))
    assert not await eraser.destroy_key(customer_key(tag_a))  # idempotent: already gone

    fulfill = transits(identities.ORDER_FULFILL)
    with pytest.raises(CustomerErasedError, match="erased"):
        await Unsealer(fulfill, identities.ORDER_FULFILL).unseal(
            "shipping_address", order_a, sealed_a
        )
    opened = await Unsealer(fulfill, identities.ORDER_FULFILL).unseal(
        "shipping_address", order_b, sealed_b
    )
    assert opened == ADDRESS

    # A new order of the erased customer gets new key material (the client's first wrap
    # re-creates the key), and the old value stays unopenable under it.
    fresh = await Sealer(transits(identities.ORDER_CLIENT)).seal(
        "shipping_address", order_a, ADDRESS, a
    )
    unsealer = Unsealer(fulfill, identities.ORDER_FULFILL)
    assert await unsealer.unseal("shipping_address", order_a, fresh) == ADDRESS
    with pytest.raises(CustomerErasedError):
        await unsealer.unseal("shipping_address", order_a, sealed_a)


@pytest.mark.parametrize(
    "identity",
    [i for i in identities.ALL if i is not identities.CUSTOMER_ERASER],
    ids=lambda i: i.name,
)
async def test_only_the_eraser_can_destroy_customer_keys(
    transits: Transits, identity: identities.Identity
) -> None:
    sealed = await Sealer(transits(identities.ORDER_CLIENT)).seal(
        "customer_email", f"ord-{uuid.uuid4()}", "x@example.org", f"c-{uuid.uuid4().hex[:8]}"
    )
    tag = customer_tag(sealed)
    assert tag is not None
    with pytest.raises(TransitDeniedError):
        await transits(identity).destroy_key(customer_key(tag))


async def test_customer_key_needs_the_consumer_too(transits: Transits) -> None:
    # Need-to-know holds: a consumer of another field can unwrap customer keys, not this field.
    sealed = await Sealer(transits(identities.ORDER_CLIENT)).seal(
        "shipping_address", "ord-needtoknow", ADDRESS, "cust-ntk"
    )
    notify = transits(identities.ORDER_NOTIFY)
    with pytest.raises(TransitDeniedError):
        await Unsealer(notify, identities.ORDER_FULFILL).unseal(
            "shipping_address", "ord-needtoknow", sealed
        )


@pytest.mark.parametrize("spec", SEALED_FIELDS, ids=lambda s: s.field)
async def test_v1_values_sealed_before_customer_keys_still_open(
    transits: Transits, spec: SealedField
) -> None:
    # What orders placed before crypto-shredding carry (and the committed histories).
    order_id = f"ord-{uuid.uuid4()}"
    key = await KeyRing(transits(identities.ORDER_CLIENT), spec.key).current()
    nonce = os.urandom(12)
    context = seal_context(order_id, spec.field)
    body = AESGCM(key.plaintext).encrypt(nonce, b"old value", context)
    v1 = f"sealed:v1.{_b64(key.wrapped.encode())}.{_b64(nonce + body)}"
    unsealer = Unsealer(transits(spec.consumer), spec.consumer)
    assert await unsealer.unseal(spec.field, order_id, v1) == "old value"


async def test_a_returning_customer_costs_no_vault_request(transits: Transits) -> None:
    # Steady state: customer data keys are cached like field data keys, on both sides.
    client, fulfill = transits(identities.ORDER_CLIENT), transits(identities.ORDER_FULFILL)
    sealer, unsealer = Sealer(client), Unsealer(fulfill, identities.ORDER_FULFILL)
    customer = f"cust-cache-{uuid.uuid4().hex[:8]}"
    first = await sealer.seal("shipping_address", "ord-cache-1", ADDRESS, customer)
    await unsealer.unseal("shipping_address", "ord-cache-1", first)
    sealed, opened = client.requests, fulfill.requests
    second = await sealer.seal("shipping_address", "ord-cache-2", ADDRESS, customer)
    assert await unsealer.unseal("shipping_address", "ord-cache-2", second) == ADDRESS
    assert (client.requests, fulfill.requests) == (sealed, opened)


async def test_concurrent_seals_share_one_key_per_customer_and_respect_its_uses(
    transits: Transits,
) -> None:

    keys = CustomerKeys(transits(identities.ORDER_CLIENT), max_uses=4)
    a, b = f"cust-a-{uuid.uuid4().hex[:8]}", f"cust-b-{uuid.uuid4().hex[:8]}"
    made = await asyncio.gather(*(keys.current(c) for c in (a, b) * 6))
    for customer in (a, b):
        mine = [k for k, c in zip(made, (a, b) * 6, strict=True) if c == customer]
        wrapped = [k.wrapped for k in mine]
        # Six seals, four uses a key: exactly two keys, the first used four times.
        assert len(set(wrapped)) == 2
        assert sorted(wrapped.count(w) for w in set(wrapped)) == [2, 4]
    assert not keys._making  # nothing left behind once every key is made
