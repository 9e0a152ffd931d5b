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

TRANSIT_MOUNT: Final = "transit"
PAYLOAD_KEY: Final = "orders-payload"
"""Transit key (aes256-gcm96) wrapping the data keys that encrypt every Temporal payload."""
CODEC_COOKIE_KEY: Final = "orders-codec-cookie"
"""Transit key the codec server's cookie key is derived from (``transit/hmac``): every
replica derives the same key, no other identity can, and nothing needs to be shared."""


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
    if identity is ORDER_APPROVALS:
        # Public keys only: reading a non-exportable key's metadata never reveals the private
        # key. Signing is the approvers' own right (their policies), never an identity's.
        rights[APPROVER_KEY_PREFIX + "*"] = frozenset({"read-key"})
    return rights
