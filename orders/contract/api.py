"""The order workflow's public API: the names clients, workers and the front share.

The library and the CLI start, query, update and signal the workflow by these names, so
nothing outside ``workflows/`` imports the workflow code (as reference-app-orders-go's
``api.go``).
"""

from __future__ import annotations

from typing import Final

# --- Temporal: what each identity may ask of Temporal (enforced by the authorization front) --

ORDER_WORKFLOW_TYPE: Final = "OrderWorkflow"
"""Workflow type the order-workflow identity runs (``@workflow.defn(name=...)``)."""
ORDER_ID_PREFIX: Final = "order-"
"""Workflow id of an order: this prefix + the order id (``orders.models.workflow_id_for``)."""
STATUS_QUERY: Final = "status"
APPROVE_UPDATE: Final = "approve"
APPROVAL_SIGNAL: Final = "approval"
PLACED_BY_HEADER: Final = "orders-placed-by"
"""Temporal header the authorization front sets on every workflow start: the authenticated
principal that placed it (any value a caller sent under this name is replaced)."""

APPROVAL_REJECTED: Final = "ApprovalRejected"
"""``ApplicationError`` type of an approval the workflow refused."""
