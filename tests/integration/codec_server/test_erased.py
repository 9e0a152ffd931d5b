"""The codec server shows a forgotten customer's sealed fields as ``erased``, others sealed."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client

from orders import client as orders_client
from orders.contract import transit_names
from orders.devstack.state import StackInfo
from orders.security.erased_view import ERASED
from orders.security.sealing import customer_tag
from orders.verify.codec import post_decode
from tests.support import stack as support
from tests.support.stack_codec import NS, Sealer, TokenFor

pytestmark = pytest.mark.integration

VIEWER = "dev-viewer"
"""A person in the order-viewers group (``orders:read``)."""


async def test_erased_customer_fields_show_as_erased(
    http: httpx.AsyncClient, token_for: TokenFor, encrypt: Sealer, client: Client, stack: StackInfo
) -> None:
    sealer = orders_client.sealer_for(client)
    kept, gone = (f"cust-view-{uuid.uuid4().hex[:8]}" for _ in range(2))
    kept_value = await sealer.seal("customer_email", "ord-view-kept", "k@example.org", kept)
    gone_value = await sealer.seal("customer_email", "ord-view-gone", "g@example.org", gone)
    key = transit_names.customer_key(str(customer_tag(gone_value)))
    root = support.vault(stack, stack.root_token())
    root.write_data(f"transit/keys/{key}/config", data={"deletion_allowed": True})
    root.delete(f"transit/keys/{key}")

    payload = await encrypt(
        {"kept": kept_value, "gone": {"customer_email": gone_value}}, NS, "wf-erased-view"
    )
    content = json_format.MessageToJson(Payloads(payloads=[payload]))
    resp = await post_decode(http, content, await token_for(VIEWER), NS)
    assert resp.status_code == 200, resp.text
    decoded = json_format.Parse(resp.content, Payloads()).payloads
    assert [json.loads(p.data) for p in decoded] == [
        {"kept": kept_value, "gone": {"customer_email": ERASED}}
    ]
