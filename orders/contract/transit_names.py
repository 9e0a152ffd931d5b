"""Transit keys of the contract: the payload key and the need-to-know sealed fields.

Which identity may create (seal) and which may open each field's data keys is derived here;
Vault policies are rendered from :func:`transit_rights`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from orders.contract.approval_policy import APPROVER_KEY_PREFIX
from orders.contract.identities import (
    ORDER_APPROVALS,
    ORDER_FULFILL,
    ORDER_NOTIFY,
    ORDER_PROCESS_PAYMENT,
    Identity,
    Kind,
)


def customer_key(tag: str) -> str:
    """The Transit key of the customer whose tag is ``tag``."""
    return CUSTOMER_KEY_PREFIX + tag


TRANSIT_MOUNT: Final = "transit"
PAYLOAD_KEY: Final = "orders-payload"
"""Transit key (aes256-gcm96) wrapping the data keys that encrypt every Temporal payload."""
CODEC_COOKIE_KEY: Final = "orders-codec-cookie"
"""Transit key the codec server's cookie key is derived from (``transit/hmac``): every
replica derives the same key, no other identity can, and nothing needs to be shared."""
CUSTOMER_KEY_PREFIX: Final = "orders-customer-"
"""Per-customer Transit keys (``orders-customer-<tag>``): deleting one crypto-shreds every
sealed field of that customer (:mod:`orders.security.customer_keys`)."""
CUSTOMER_KEYS: Final = CUSTOMER_KEY_PREFIX + "*"
"""Every customer key, as a policy path glob."""
CUSTOMER_NAMES_KEY: Final = "customer-key-names"
"""Transit key whose HMAC of a customer id names the customer's key (the tag). Its name must
not start with :data:`CUSTOMER_KEY_PREFIX`: the eraser may delete every key that does."""


@dataclass(frozen=True)
class SealedField:
    """An order field sealed by the client to the one identity that needs it.

    Attributes:
        field: Field name in the order.
        key: Transit key wrapping the data keys it is sealed with.
        consumer: The only identity whose policy may decrypt it.
    """

    field: str
    key: str
    consumer: Identity


SEALED_FIELDS: Final[tuple[SealedField, ...]] = (
    SealedField("payment_reference", "field-payment", ORDER_PROCESS_PAYMENT),
    SealedField("shipping_address", "field-address", ORDER_FULFILL),
    SealedField("customer_email", "field-contact", ORDER_NOTIFY),
)


def transit_rights(identity: Identity) -> dict[str, frozenset[str]]:
    """Transit operations ``identity`` may perform, per key (what its policy must grant).

    Workers and the client encrypt and decrypt payloads (data keys); the codec server only
    decrypts, and derives its cookie key (HMAC with a key of its own); the client seals
    need-to-know fields (creates field data keys, cannot unwrap them); each field's
    consumer alone may unwrap, i.e. unseal. The migrate identity touches no payload at all.
    """
    rights: dict[str, frozenset[str]] = {}
    if identity.is_worker or identity.kind is Kind.CLIENT:
        rights[PAYLOAD_KEY] = frozenset({"datakey", "decrypt"})
    elif identity.kind is Kind.CODEC:
        rights[PAYLOAD_KEY] = frozenset({"decrypt"})
        rights[CODEC_COOKIE_KEY] = frozenset({"hmac"})
    for sealed in SEALED_FIELDS:
        if identity.kind is Kind.CLIENT:
            rights[sealed.key] = frozenset({"datakey"})
        elif identity is sealed.consumer:
            rights[sealed.key] = frozenset({"decrypt"})
            # A sealed value opens only with its customer's key as well (crypto-shredding).
            rights[CUSTOMER_KEYS] = frozenset({"decrypt"})
    if identity.kind is Kind.CLIENT:
        # Names and wraps customer data keys; the first wrap creates the customer's key.
        # Reading a key's metadata (never its material) shows whether it was erased.
        rights[CUSTOMER_NAMES_KEY] = frozenset({"hmac"})
        rights[CUSTOMER_KEYS] = frozenset({"encrypt-create", "read-key"})
    elif identity.kind is Kind.CODEC:
        rights[CUSTOMER_KEYS] = frozenset({"read-key"})
    elif identity.kind is Kind.OPERATOR:
        # The customer eraser: finds a customer's key by name and destroys it, nothing else.
        rights[CUSTOMER_NAMES_KEY] = frozenset({"hmac"})
        rights[CUSTOMER_KEYS] = frozenset({"erase"})
    if identity is ORDER_APPROVALS:
        # Public keys only: reading a non-exportable key's metadata never reveals the private
        # key. Signing is the approvers' own right (their policies), never an identity's.
        rights[APPROVER_KEY_PREFIX + "*"] = frozenset({"read-key"})
    return rights
