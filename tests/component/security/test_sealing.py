"""Need-to-know sealing against a real OpenBao with the project's literal policies.

Every negative is proven twice where it matters: the local check refuses before any Vault
call (a clear error), and Vault itself answers 403 to the same identity's token (the
policy, which holds even if the code were changed).
"""

from __future__ import annotations

import base64
import itertools
import uuid

import pytest
import pytest_asyncio
from pydantic import ValidationError

from orders.contract import identities, transit_names
from orders.contract.identities import Identity
from orders.contract.transit_names import SEALED_FIELDS, SealedField
from orders.models import SEALED_VALUE_PATTERN, OrderItem, OrderRequest, SealedOrder
from orders.security.sealing import (
    NotTheConsumerError,
    Sealer,
    Unsealer,
    seal_context,
    sealed_field,
    sealed_key_version,
)
from orders.security.transit import TransitDeniedError, TransitInvalidError
from orders.security.vault import VaultUnavailableError
from tests.support.openbao import (
    DevVault,
    Transits,
    dev_vault,
    transits,
    unreachable_transit,
)

__all__ = ["dev_vault", "transits"]  # fixtures, imported so pytest finds them here

PLAINTEXT = {
    "customer_email": "grace.hopper@example.net",
    "shipping_address": "7 Rue des Secrets, 75001 Paris",
    "payment_reference": "tok_mastercard_5454",
}
OTHERS = [
    pytest.param(ident, spec, id=f"{ident.name}-{spec.field}")
    for ident, spec in itertools.product(identities.ALL, SEALED_FIELDS)
    if ident != spec.consumer
]
NOT_CLIENT = [
    pytest.param(ident, spec, id=f"{ident.name}-{spec.field}")
    for ident, spec in itertools.product(identities.ALL, SEALED_FIELDS)
    if ident is not identities.ORDER_CLIENT
]
BY_FIELD = [pytest.param(spec, id=spec.field) for spec in SEALED_FIELDS]


def new_order() -> OrderRequest:
    return OrderRequest(
        order_id=f"ord-{uuid.uuid4()}",
        customer_id="cust-42",
        items=(OrderItem(sku="SKU-WIDGET", quantity=2),),
        **PLAINTEXT,
    )


@pytest.fixture(scope="module")
def order() -> OrderRequest:
    return new_order()


@pytest.fixture
def sealer(transits: Transits) -> Sealer:
    return Sealer(transits(identities.ORDER_CLIENT))


@pytest_asyncio.fixture(scope="module")
async def sealed(transits: Transits, order: OrderRequest) -> SealedOrder:
    return await Sealer(transits(identities.ORDER_CLIENT)).seal_order(order)


def unsealer(transits: Transits, identity: Identity) -> Unsealer:
    return Unsealer(transits(identity), identity)


def test_context_binds_order_and_field() -> None:
    assert (
        seal_context("ord-1234abcd", "shipping_address")
        == b"orders/v1|ord-1234abcd|shipping_address"
    )
    contexts = {
        seal_context(o, s.field) for o in ("ord-aaaaaaaa", "ord-bbbbbbbb") for s in SEALED_FIELDS
    }
    assert len(contexts) == 2 * len(SEALED_FIELDS)


def test_unknown_field_is_refused() -> None:
    with pytest.raises(KeyError, match="customer_id"):
        sealed_field("customer_id")


async def test_seal_order_seals_exactly_the_need_to_know_fields(
    order: OrderRequest, sealed: SealedOrder
) -> None:
    for spec in SEALED_FIELDS:
        value = getattr(sealed, spec.field)
        assert value.startswith("sealed:v2.")
        assert sealed_key_version(value) == 1
        assert value != getattr(order, spec.field)
    for name in ("order_id", "customer_id", "currency", "items"):
        assert getattr(sealed, name) == getattr(order, name)
    assert sealed.workflow_id == order.workflow_id
    text = sealed.model_dump_json()
    for secret in PLAINTEXT.values():
        assert secret not in text


async def test_sealing_is_randomised(sealer: Sealer, order: OrderRequest) -> None:
    # Equal plaintexts must not be recognisable as equal in history or the database.
    args = ("customer_email", order.order_id, PLAINTEXT["customer_email"], order.customer_id)
    first, second = await sealer.seal(*args), await sealer.seal(*args)
    assert first != second


@pytest.mark.parametrize("spec", BY_FIELD)
async def test_the_consumer_unseals_its_field(
    transits: Transits, sealed: SealedOrder, spec: SealedField
) -> None:
    opened = await unsealer(transits, spec.consumer).unseal(
        spec.field, sealed.order_id, getattr(sealed, spec.field)
    )
    assert opened == PLAINTEXT[spec.field]


@pytest.mark.parametrize(("identity", "spec"), OTHERS)
async def test_no_other_identity_can_unseal(
    transits: Transits, sealed: SealedOrder, identity: Identity, spec: SealedField
) -> None:
    value = getattr(sealed, spec.field)
    transit = transits(identity)
    before = transit.requests

    with pytest.raises(NotTheConsumerError, match=spec.consumer.name):
        await Unsealer(transit, identity).unseal(spec.field, sealed.order_id, value)
    assert transit.requests == before, "the local check must not even ask Vault"

    # And Vault's policy refuses the identity's token on its own.
    with pytest.raises(TransitDeniedError):
        await transit.decrypt(spec.key, value, seal_context(sealed.order_id, spec.field))


@pytest.mark.parametrize(("identity", "spec"), NOT_CLIENT)
async def test_only_the_client_can_seal(
    transits: Transits, order: OrderRequest, identity: Identity, spec: SealedField
) -> None:
    # Nobody downstream can forge a sealed value for a consumer, not even the consumer.
    with pytest.raises(TransitDeniedError):
        await Sealer(transits(identity)).seal(
            spec.field, order.order_id, "forged", order.customer_id
        )


async def test_the_client_seals_but_cannot_open(transits: Transits, sealed: SealedOrder) -> None:
    client = transits(identities.ORDER_CLIENT)
    for spec in SEALED_FIELDS:
        with pytest.raises(TransitDeniedError):
            await client.decrypt(
                spec.key, getattr(sealed, spec.field), seal_context(sealed.order_id, spec.field)
            )


async def test_consumer_identity_with_another_token_is_refused_by_vault(
    transits: Transits, sealed: SealedOrder
) -> None:
    # A worker wired with the wrong Vault identity: the local check passes, Vault does not.
    wrong = Unsealer(transits(identities.ORDER_WORKFLOW), identities.ORDER_FULFILL)
    with pytest.raises(TransitDeniedError):
        await wrong.unseal("shipping_address", sealed.order_id, sealed.shipping_address)


@pytest.mark.parametrize("spec", BY_FIELD)
async def test_value_moved_to_another_order_does_not_open(
    transits: Transits, sealed: SealedOrder, spec: SealedField
) -> None:
    other = new_order().order_id
    with pytest.raises(TransitInvalidError):
        await unsealer(transits, spec.consumer).unseal(
            spec.field, other, getattr(sealed, spec.field)
        )


@pytest.mark.parametrize("spec", BY_FIELD)
async def test_tampered_value_does_not_open(
    transits: Transits, sealed: SealedOrder, spec: SealedField
) -> None:
    prefix, _, body = getattr(sealed, spec.field).rpartition(".")
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[len(raw) // 2] ^= 0x01
    tampered = f"{prefix}.{base64.urlsafe_b64encode(raw).rstrip(b'=').decode()}"
    with pytest.raises(TransitInvalidError):
        await unsealer(transits, spec.consumer).unseal(spec.field, sealed.order_id, tampered)


async def test_plaintext_is_refused_without_asking_vault(
    transits: Transits, order: OrderRequest
) -> None:
    # E.g. a row written before sealing existed.
    transit = transits(identities.ORDER_NOTIFY)
    before = transit.requests
    with pytest.raises(TransitInvalidError):
        await Unsealer(transit, identities.ORDER_NOTIFY).unseal(
            "customer_email", order.order_id, PLAINTEXT["customer_email"]
        )
    assert transit.requests == before


async def test_vault_outage_is_unavailable_not_denied(order: OrderRequest) -> None:
    # Callers retry on VaultUnavailableError; it must never look like a refusal.
    transit = unreachable_transit()
    try:
        with pytest.raises(VaultUnavailableError):
            await Sealer(transit).seal_order(order)
        with pytest.raises(VaultUnavailableError):
            await Unsealer(transit, identities.ORDER_PROCESS_PAYMENT).unseal(
                "payment_reference",
                order.order_id,
                # Well-formed, with a data key this process has never unwrapped.
                "sealed:v1."
                + base64.urlsafe_b64encode(b"vault:v1:AAAA").rstrip(b"=").decode()
                + "."
                + base64.urlsafe_b64encode(bytes(40)).rstrip(b"=").decode(),
            )
    finally:
        await transit.aclose()


async def test_values_sealed_before_a_key_rotation_still_open(
    dev_vault: DevVault, transits: Transits, sealer: Sealer, order: OrderRequest
) -> None:
    # Orders in flight keep working when the field key is rotated.
    args = ("shipping_address", order.order_id, PLAINTEXT["shipping_address"], order.customer_id)
    before = await sealer.seal(*args)
    dev_vault.request("POST", f"{transit_names.TRANSIT_MOUNT}/keys/field-address/rotate")
    # A new client process fetches its data keys after the rotation.
    fresh = Sealer(transits(identities.ORDER_CLIENT))
    after = await fresh.seal(*args)

    assert sealed_key_version(after) == sealed_key_version(before) + 1
    fulfill = unsealer(transits, identities.ORDER_FULFILL)
    for value in (before, after):
        opened = await fulfill.unseal("shipping_address", order.order_id, value)
        assert opened == PLAINTEXT["shipping_address"]


def test_sealed_order_refuses_plaintext_without_echoing_it(sealed: SealedOrder) -> None:
    data = sealed.model_dump() | {"customer_email": PLAINTEXT["customer_email"]}
    with pytest.raises(ValidationError) as refused:
        SealedOrder.model_validate(data)
    assert "customer_email" in str(refused.value)
    assert PLAINTEXT["customer_email"] not in str(refused.value)


def test_sealed_value_pattern_matches_transit_output(sealed: SealedOrder) -> None:
    import re

    for spec in SEALED_FIELDS:
        assert re.fullmatch(SEALED_VALUE_PATTERN, getattr(sealed, spec.field))
