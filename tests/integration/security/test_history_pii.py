"""Raw workflow history holds no PII, failure text or memo in the clear; it decodes with the key.

"Raw" is what anyone with read access to Temporal sees: ``temporal workflow show -o json``
from the CLI bundled with the dev server, no codec. Orders that completed, were
compensated, ran out of stock, and were refunded after payment are all scanned.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from orders import client as orders_client
from orders.devstack.state import StackInfo, StackPaths
from orders.models import Outcome
from orders.verify.history import leaks, pii_order
from tests.support.stack import raw_history

pytestmark = pytest.mark.integration


async def test_raw_history_has_no_pii_and_decodes_with_the_codec(
    stack: StackInfo, stack_paths: StackPaths, client: Client
) -> None:
    tag = uuid.uuid4().hex[:8]
    orders = {
        # Neutral names: the workflow id is visible by design and must not trip the scan.
        Outcome.COMPLETED: pii_order(tag, "alpha", "SKU-WIDGET"),
        Outcome.PAYMENT_DECLINED: pii_order(tag, "bravo", "SKU-GADGET", ref=f"decline-{tag}"),
        Outcome.OUT_OF_STOCK: pii_order(tag, "charlie", "SKU-SOLDOUT"),
        Outcome.FULFILLMENT_FAILED: pii_order(
            tag, "delta", "SKU-GIZMO", address=f"{tag} Undeliverable Row, Nowhere"
        ),
    }
    handles = [await orders_client.place(client, o) for o in orders.values()]
    results = await asyncio.gather(*(asyncio.wait_for(h.result(), 120) for h in handles))
    assert [r.outcome for r in results] == list(orders)

    for outcome, order in orders.items():
        raw = raw_history(stack, stack_paths, order.workflow_id)
        events = json.loads(raw)["events"]
        assert len(events) > 10, outcome
        assert leaks(raw, order) == [], outcome
        # The SDK's own JSON of the fetched history (what ``orders verify`` scans) is the same.
        fetched = await client.get_workflow_handle(order.workflow_id).fetch_history()
        assert leaks(fetched.to_json(), order) == [], outcome

    # The same history decodes through the codec of an identity allowed to read it.
    order = orders[Outcome.FULFILLMENT_FAILED]
    history = await client.get_workflow_handle(order.workflow_id).fetch_history()
    started = history.events[0]
    assert started.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    (decoded,) = await client.data_converter.decode(
        started.workflow_execution_started_event_attributes.input.payloads
    )
    assert decoded["customer_id"] == order.customer_id
    # Need-to-know fields stay sealed even for an identity that may decode payloads.
    for field in ("customer_email", "shipping_address", "payment_reference"):
        assert decoded[field].startswith("sealed:v2."), field
    failed = [
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
    ]
    assert failed, "the undeliverable order has a failed activity"
    error = await client.data_converter.decode_failure(
        failed[0].activity_task_failed_event_attributes.failure
    )
    assert "undeliverable" in str(error).lower()
