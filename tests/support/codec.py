"""A payload codec on the dev OpenBao's Transit keys, as a workflow worker holds it.

Shared by the codec's and the codec metrics' component tests (they need the dev OpenBao).
"""

from __future__ import annotations

from temporalio.api.common.v1 import Payload
from temporalio.converter import WorkflowSerializationContext

from orders.contract import identities, transit_names
from orders.security.codec import EnvelopeCodec
from tests.support.openbao import Transits

LIMIT = 64 * 1024

NS = "orders"

CONTEXT = WorkflowSerializationContext(namespace=NS, workflow_id="wf-hostile")


def codec(transits: Transits, *, quarantine: bool = True) -> EnvelopeCodec:
    """The workflow worker's envelope codec, bound to a fixed workflow context."""
    made = EnvelopeCodec(
        transits(identities.ORDER_WORKFLOW),
        transit_names.PAYLOAD_KEY,
        NS,
        quarantine=quarantine,
        max_decoded_bytes=LIMIT,
    )
    return made.with_context(CONTEXT)


def plain(data: bytes) -> Payload:
    """An unencoded payload of ``data``."""
    return Payload(metadata={"encoding": b"binary/plain"}, data=data)
