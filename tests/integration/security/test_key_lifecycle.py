"""Key rotation, rewrap and minimum version; a Vault outage mid-order is only a retry."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from orders import client as orders_client
from orders.contract import transit_names
from orders.devstack import actas
from orders.devstack.state import StackInfo, StackPaths, Status
from orders.models import OrderRequest, Outcome
from orders.vault import keys
from tests.support import stack as support
from tests.support.stack import raw_history

pytestmark = pytest.mark.integration


def make_order(prefix: str) -> OrderRequest:
    return support.make_order(prefix, address="4 Rotation Street, Keyham")


async def test_rotate_rewrap_and_raise_min_version(
    stack: StackInfo, stack_paths: StackPaths, client: Client
) -> None:
    admin = support.vault(stack, stack.root_token())
    old = make_order("keys-old")
    await (await orders_client.place(client, old)).result()
    exported = json.loads(raw_history(stack, stack_paths, old.workflow_id))
    before = keys.history_key_versions(exported)
    assert before, "history has encrypted payloads"

    versions = keys.rotate(admin, [transit_names.PAYLOAD_KEY])
    latest = versions[transit_names.PAYLOAD_KEY]
    assert latest > max(before)
    # A fresh process uses the new version; the old history still decodes.
    async with actas.temporal_client(stack, stack_paths) as fresh:
        new = make_order("keys-new")
        result = await (await orders_client.place(fresh, new)).result()
        assert result.outcome is Outcome.COMPLETED
        started = (await fresh.get_workflow_handle(new.workflow_id).fetch_history()).events[0]
        meta = started.workflow_execution_started_event_attributes.input.payloads[0].metadata
        assert int(meta["encryption-key-version"]) == latest
        old_started = (await fresh.get_workflow_handle(old.workflow_id).fetch_history()).events[0]
        (decoded,) = await fresh.data_converter.decode(
            old_started.workflow_execution_started_event_attributes.input.payloads
        )
        assert decoded["order_id"] == old.order_id

    rewrapped = json.loads(json.dumps(exported))
    counts = keys.rewrap_history(admin, rewrapped)
    assert counts["encrypted"] > 0
    assert keys.history_key_versions(rewrapped) == {latest}

    keys.set_min_decryption_version(admin, transit_names.PAYLOAD_KEY, latest)
    try:
        async with actas.temporal_client(stack, stack_paths) as fresh:
            codec = fresh.data_converter.payload_codec
            assert codec is not None
            from google.protobuf import json_format
            from temporalio.api.common.v1 import Payload

            def started_payload(history: dict[str, object]) -> Payload:
                event = history["events"][0]  # type: ignore[index]
                raw = event["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]
                return json_format.ParseDict(raw, Payload())

            (ok,) = await codec.decode([started_payload(rewrapped)])
            assert old.order_id in ok.data.decode()
            with pytest.raises(Exception, match=r"rejected|refused|denied"):
                await codec.decode([started_payload(exported)])
    finally:
        # Other tests replay older histories of this session: allow every version again.
        keys.set_min_decryption_version(admin, transit_names.PAYLOAD_KEY, 1)


async def test_vault_outage_mid_order_is_a_retry_not_a_failure(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    status = Status.load(stack_paths)
    assert status is not None
    bao = status.processes["openbao"]
    # A brand-new client process: its data key is one no worker has unwrapped yet, so the
    # workflow worker must call Vault to read the order.
    async with actas.temporal_client(stack, stack_paths) as fresh:
        # The client's own data keys (payload and fields), fetched while Vault is up; no
        # worker has seen them, so the workers must ask Vault to read this order.
        order = make_order("outage")
        await fresh.data_converter.encode(["warm-up"])
        await orders_client.sealer_for(fresh).seal_order(order)
        os.kill(bao, signal.SIGSTOP)
        try:
            handle = await orders_client.place(fresh, order)
            await asyncio.sleep(12)  # longer than the Transit client's 10 s timeout
        finally:
            os.kill(bao, signal.SIGCONT)
        result = await asyncio.wait_for(handle.result(), timeout=120)
        assert result.outcome is Outcome.COMPLETED
        events = [e.event_type async for e in handle.fetch_history_events()]
        # The worker could not read the order while Vault was down: its workflow task failed
        # or timed out and was retried; the workflow itself never failed.
        retried = {
            EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
            EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
        }
        assert retried & set(events)
        assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED not in events
