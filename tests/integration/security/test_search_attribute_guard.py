"""The project's Temporal clients refuse unlisted (unencrypted) search attributes."""

from __future__ import annotations

import pytest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from orders.contract import identities
from orders.security.search_attributes import DisallowedSearchAttributeError

pytestmark = pytest.mark.integration


async def test_client_refuses_an_unlisted_search_attribute(client: Client) -> None:
    attrs = TypedSearchAttributes(
        [SearchAttributePair(SearchAttributeKey.for_keyword("CustomerEmail"), "x@example.com")]
    )
    with pytest.raises(DisallowedSearchAttributeError, match="CustomerEmail"):
        await client.start_workflow(
            "OrderWorkflow",
            id="order-sa-guard",
            task_queue=identities.ORDER_WORKFLOW.task_queue,
            search_attributes=attrs,
        )
    with pytest.raises(Exception, match=r"not found"):
        await client.get_workflow_handle("order-sa-guard").describe()
