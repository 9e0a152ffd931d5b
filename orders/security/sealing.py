"""Need-to-know sealing: order fields only their one consuming identity can read.

The client seals ``payment_reference``, ``shipping_address`` and ``customer_email`` before
the order reaches Temporal, each to the Transit key of its one consumer
(``transit_names.SEALED_FIELDS``). From then on the workflow worker, every other activity,
the database (validate stores the sealed strings as they are) and Temporal's history only
ever hold ciphertext.

Sealing is envelope encryption, like the payload codec: AES-256-GCM under a data key from
Transit ``datakey`` on the field's key, the wrapped data key carried in the sealed value.
Only the consumer's policy may ``decrypt`` (unwrap) with that key, so any other identity
gets a 403 from Vault, whatever the code tries; the client may create data keys but cannot
unwrap them. Data keys are cached (:class:`~orders.security.keyring.KeyRing`): at steady
state sealing and unsealing cost no Vault call per order.

Two formats (base64url parts):

* ``sealed:v2.<wrapped field key>.<customer tag>.<wrapped customer key>.<nonce+ciphertext>``
  (every new seal): the AES key is HKDF-SHA256 of *both* the field data key and the
  customer's data key (:mod:`orders.security.customer_keys`), so opening needs the
  consumer's Transit key and the customer's. Deleting the customer's key crypto-shreds every
  copy of the value; nothing in the value makes that key unnecessary (the tag only names it).
* ``sealed:v1.<wrapped field key>.<nonce+ciphertext>``: orders sealed before per-customer
  keys, still opened (they cannot be shredded per customer: re-place or let them expire).

The associated data is :func:`seal_context` (order, field and, for v2, the customer tag), so
a sealed value copied into another order or presented as another field does not
authenticate.

Errors are deliberately left as :mod:`orders.security.transit` raises them: the activity
layer decides what is retryable (a Vault outage) and what is not (a refusal, a ciphertext
that does not open).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import re
from collections.abc import Mapping
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from orders.contract.identities import Identity
from orders.contract.transit_names import SEALED_FIELDS, SealedField
from orders.models import SEALED_VALUE_PATTERN, OrderRequest, SealedOrder
from orders.security.customer_keys import CustomerErasedError, CustomerKeys
from orders.security.keyring import KeyRing
from orders.security.transit import TransitClient, TransitInvalidError, key_version

CONTEXT_VERSION: Final = "orders/v1"
"""First part of every seal context; a new scheme gets a new version, never a reuse."""
CONTEXT_V2: Final = "orders/v2"
SEALED_PREFIX: Final = "sealed:v1."
SEALED_V2_PREFIX: Final = "sealed:v2."
NONCE_BYTES: Final = 12

_SEALED = re.compile(SEALED_VALUE_PATTERN)
_BY_FIELD: Final[dict[str, SealedField]] = {s.field: s for s in SEALED_FIELDS}


class NotTheConsumerError(PermissionError):
    """This identity is not the consumer of the field it tried to unseal.

    Raised locally, before any Vault call: Vault would answer 403 anyway, but this names
    the field and the one identity that may open it, which a 403 cannot.
    """


def seal_context(order_id: str, field: str) -> bytes:
    """The derived-key context binding a sealed value to its order and field.

    Args:
        order_id: The order the value belongs to.
        field: The sealed field's name (``shipping_address`` ...).

    Returns:
        ``orders/v1|<order id>|<field>`` as bytes. The separator cannot occur in an order id
        (``ORDER_ID_PATTERN``) or a field name, so no two (order, field) pairs collide.
    """
    return f"{CONTEXT_VERSION}|{order_id}|{field}".encode()


def seal_context_v2(order_id: str, field: str, tag: str) -> bytes:
    """The v2 context: order, field and customer tag (``orders/v2|<order>|<field>|<tag>``).

    It is both the AEAD's associated data and the HKDF ``info`` of the content key.
    """
    return f"{CONTEXT_V2}|{order_id}|{field}|{tag}".encode()


def content_key(field_key: bytes, customer_key: bytes, context: bytes) -> bytes:
    """The v2 AES-256 key: HKDF-SHA256 over both data keys, bound to ``context``."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=context).derive(
        field_key + customer_key
    )


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _parse(sealed: str) -> tuple[str, tuple[str, str] | None, bytes]:
    """(wrapped field key, (customer tag, wrapped customer key) or None for v1, body)."""
    if not _SEALED.match(sealed):
        raise TransitInvalidError("not a sealed value")
    try:
        if sealed.startswith(SEALED_V2_PREFIX):
            wrapped, tag, customer, body = sealed.removeprefix(SEALED_V2_PREFIX).split(".")
            customer_part = (tag, _b64d(customer).decode())
        else:
            wrapped, body = sealed.removeprefix(SEALED_PREFIX).split(".")
            customer_part = None
        return _b64d(wrapped).decode(), customer_part, _b64d(body)
    except (binascii.Error, UnicodeDecodeError):
        raise TransitInvalidError("malformed sealed value") from None


def sealed_key_version(sealed: str) -> int:
    """Version of the Transit key that wrapped a sealed value's data key."""
    return key_version(_parse(sealed)[0])


def customer_tag(sealed: str) -> str | None:
    """The customer tag of a v2 sealed value (None for v1 and for anything else)."""
    try:
        customer = _parse(sealed)[1]
    except TransitInvalidError:
        return None
    return customer[0] if customer else None


def _rings(transit: TransitClient) -> dict[str, KeyRing]:
    return {s.key: KeyRing(transit, s.key) for s in SEALED_FIELDS}


def sealed_field(field: str) -> SealedField:
    """The contract entry of a sealed field.

    Raises:
        KeyError: If ``field`` is not a sealed field, naming the ones that are.
    """
    try:
        return _BY_FIELD[field]
    except KeyError:
        raise KeyError(f"{field!r} is not a sealed field; sealed: {', '.join(_BY_FIELD)}") from None


class Sealer:
    """Client side: seals an order's need-to-know fields to their consumers.

    Needs a Transit client whose token may create data keys with the field keys (the
    order-client policy); it cannot unwrap them, so it cannot open what others sealed.

    Args:
        transit: Transit client of the order-client identity.
        rings: Data-key sources per field key (default: Transit, cached). Only the plain
            benchmark configuration passes its own.
        customers: Customer data keys (default: Transit, cached); likewise.
    """

    def __init__(
        self,
        transit: TransitClient,
        *,
        rings: Mapping[str, KeyRing] | None = None,
        customers: CustomerKeys | None = None,
    ) -> None:
        self._rings = rings if rings is not None else _rings(transit)
        self.customers = customers if customers is not None else CustomerKeys(transit)

    async def seal(self, field: str, order_id: str, plaintext: str, customer_id: str) -> str:
        """Seal one field value of one order of one customer.

        Args:
            field: A sealed field's name.
            order_id: The order the value belongs to (bound into the ciphertext).
            plaintext: The value.
            customer_id: Whose value it is: it opens only while their key exists.

        Returns:
            The sealed value (``sealed:v2.…``).

        Raises:
            KeyError: If ``field`` is not a sealed field.
            TransitDeniedError: If this token may not seal (wrong identity's policy).
            VaultUnavailableError: If Vault cannot be reached; nothing was sealed.
        """
        spec = sealed_field(field)
        key, customer = await asyncio.gather(
            self._rings[spec.key].current(), self.customers.current(customer_id)
        )
        context = seal_context_v2(order_id, field, customer.tag)
        nonce = os.urandom(NONCE_BYTES)
        body = AESGCM(content_key(key.plaintext, customer.plaintext, context)).encrypt(
            nonce, plaintext.encode(), context
        )
        return (
            f"{SEALED_V2_PREFIX}{_b64e(key.wrapped.encode())}.{customer.tag}."
            f"{_b64e(customer.wrapped.encode())}.{_b64e(nonce + body)}"
        )

    async def seal_order(self, order: OrderRequest) -> SealedOrder:
        """The workflow input for ``order``: every sealed field sealed, the rest copied.

        Args:
            order: The validated plaintext order (its ``order_id`` is final: the seals are
                bound to it).

        Returns:
            The sealed order to start the workflow with.

        Raises:
            TransitDeniedError: If this token may not seal.
            VaultUnavailableError: If Vault cannot be reached (retry; nothing was started).
        """
        # Independent keys: when a data key must be fetched, the three requests overlap.
        sealed = await asyncio.gather(
            *(
                self.seal(spec.field, order.order_id, getattr(order, spec.field), order.customer_id)
                for spec in SEALED_FIELDS
            )
        )
        data = order.model_dump()
        data.update(zip((spec.field for spec in SEALED_FIELDS), sealed, strict=True))
        return SealedOrder.model_validate(data)


class Unsealer:
    """Consumer side: opens the sealed fields this identity consumes, and no others.

    Args:
        transit: Transit client holding ``identity``'s Vault token.
        rings: As for :class:`Sealer`.
        customers: As for :class:`Sealer`.
        identity: The identity this process runs as.
    """

    def __init__(
        self,
        transit: TransitClient,
        identity: Identity,
        *,
        rings: Mapping[str, KeyRing] | None = None,
        customers: CustomerKeys | None = None,
    ) -> None:
        self._rings = rings if rings is not None else _rings(transit)
        self._customers = customers if customers is not None else CustomerKeys(transit)
        self._identity = identity
        self._transit = transit

    @property
    def identity(self) -> Identity:
        """The identity whose sealed fields this unsealer opens."""
        return self._identity

    @property
    def transit(self) -> TransitClient:
        """The identity's own Transit client (e.g. to read approvers' public keys)."""
        return self._transit

    def fields(self) -> tuple[str, ...]:
        """The sealed fields this identity consumes (empty for most identities)."""
        return tuple(s.field for s in SEALED_FIELDS if s.consumer == self._identity)

    async def unseal(self, field: str, order_id: str, sealed: str) -> str:
        """Open a sealed value of ``order_id``. The result is PII: never log it.

        Args:
            field: The sealed field's name.
            order_id: The order the value must belong to.
            sealed: The sealed value, as carried by the workflow or stored.

        Returns:
            The plaintext value.

        Raises:
            KeyError: If ``field`` is not a sealed field.
            NotTheConsumerError: If this identity is not the field's consumer (no Vault
                call is made).
            TransitInvalidError: If ``sealed`` is not a sealed value, belongs to another
                order or field, or was tampered with.
            CustomerErasedError: If the customer's key material was erased (v2 only): the
                value can never be opened again.
            TransitDeniedError: If Vault refuses (this process's token lacks the policy).
            VaultUnavailableError: If Vault cannot be reached (the caller retries).
        """
        spec = sealed_field(field)
        if spec.consumer != self._identity:
            raise NotTheConsumerError(
                f"{self._identity.name} may not unseal {field}; "
                f"only {spec.consumer.name} consumes it"
            )
        try:
            # A plaintext or malformed value never reaches Vault.
            wrapped, customer, body = _parse(sealed)
        except TransitInvalidError:
            raise TransitInvalidError(
                f"{field} of order {order_id} is not a sealed value"
            ) from None
        # The field key first: an identity that is not the consumer is refused (403) before
        # anything of the customer's is unwrapped.
        key = await self._rings[spec.key].unwrap(wrapped)
        if customer is None:
            context = seal_context(order_id, field)
        else:
            tag, customer_wrapped = customer
            context = seal_context_v2(order_id, field, tag)
            try:
                customer_key = await self._customers.unwrap(tag, customer_wrapped)
            except CustomerErasedError:
                raise CustomerErasedError(
                    f"{field} of order {order_id} is erased: its customer's key was destroyed"
                ) from None
            key = content_key(key, customer_key, context)
        try:
            plaintext = AESGCM(key).decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], context)
            return plaintext.decode()
        except (InvalidTag, ValueError):
            raise TransitInvalidError(
                f"{field} of order {order_id} does not open (another order's, or tampered)"
            ) from None


__all__ = [
    "CONTEXT_V2",
    "CONTEXT_VERSION",
    "CustomerErasedError",
    "NotTheConsumerError",
    "Sealer",
    "Unsealer",
    "content_key",
    "customer_tag",
    "seal_context",
    "seal_context_v2",
    "sealed_field",
    "sealed_key_version",
]
