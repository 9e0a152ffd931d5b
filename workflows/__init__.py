"""Workflows: deterministic code only, one workflow per module.

:data:`WORKFLOW_CLASSES` maps each workflow identity to the workflows its worker registers;
``orders new workflow`` adds its generated module at the marked lines.
"""

from typing import Final

from temporalio import workflow

from workflows.order import OrderWorkflow

# `orders new workflow` inserts imports above this line.

# Passed through, like every orders.* import of a workflow module: the sandbox re-runs the
# workflow modules for each workflow run, and re-running the project's models and contract
# with them would cost more CPU than the whole run's decisions.
with workflow.unsafe.imports_passed_through():
    from orders.contract import identities

WORKFLOW_CLASSES: Final[dict[str, tuple[type, ...]]] = {
    identities.ORDER_WORKFLOW.name: (OrderWorkflow,),
    # `orders new workflow` inserts entries above this line.
}
"""Workflow identity name -> the workflow classes its worker registers."""


def workflows_for(identity: identities.Identity) -> list[type]:
    """The workflow classes a worker of ``identity`` registers.

    Raises:
        ValueError: If ``identity`` runs no workflow.
    """
    try:
        return list(WORKFLOW_CLASSES[identity.name])
    except KeyError:
        raise ValueError(f"identity {identity.name!r} runs no workflows") from None


__all__ = ["WORKFLOW_CLASSES", "OrderWorkflow", "workflows_for"]
