"""Deliberately non-deterministic variants of OrderWorkflow, for replay controls only.

Each registers under the real workflow's name, so a committed history replays against it as
it would against a changed ``workflows/order.py``; ``test_golden_histories.py`` checks that
the replay then fails and names the event. Never registered by a worker.
"""

from __future__ import annotations

from typing import Any, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from orders.contract import identities
    from orders.models import Model, OrderStatus, Reservation, SealedOrder
    from workflows.order import WORKFLOW_NAME, OrderWorkflow

_M = TypeVar("_M", bound=Model)


@workflow.defn(name=WORKFLOW_NAME)
class WithoutReservation(OrderWorkflow):
    """The saga with its reservation step taken out (as a careless refactoring might)."""

    @workflow.run
    async def run(self, order: SealedOrder) -> OrderStatus:
        """As :meth:`OrderWorkflow.run`."""
        return await super().run(order)

    async def _step(
        self, step: Any, activity: str, arg: Model, result_type: type[_M], **kw: Any
    ) -> _M:
        if activity == identities.RESERVE_INVENTORY:
            held = Reservation(order_id=getattr(arg, "order_id", ""), skus=(), status="held")
            return result_type.model_validate(held.model_dump())
        return await super()._step(step, activity, arg, result_type, **kw)
