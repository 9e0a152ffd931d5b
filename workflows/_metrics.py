"""The workflow's own counters, through the SDK's replay-safe ``workflow.metric_meter()``.

A workflow cannot serve metrics (no I/O in the sandbox), and an activity for it would add
history events. The runtime's meter records nothing while a history is replayed, so a
worker restarted mid-order does not count an approval twice; the worker's runtime serves
the counters with the SDK's own (:mod:`orders.observability.sdk`). Labels are bounded
values only: entry, decision, reason, outcome — never an order id or an approver's name.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from orders.observability import names

UPDATE = names.UPDATE
VALIDATOR = names.VALIDATOR
SIGNAL = names.SIGNAL


def _count(name: str, description: str, labels: dict[str, str]) -> None:
    workflow.metric_meter().create_counter(name, description).add(1, labels)


def approval_accepted(entry: str, decision: str) -> None:
    """Count an accepted approval (``entry``: update or signal)."""
    _count(
        names.APPROVALS_ACCEPTED,
        "Signed approvals accepted.",
        {
            names.ENTRY: names.bounded(entry, names.APPROVAL_ENTRIES),
            names.DECISION: names.bounded(decision, names.DECISIONS),
        },
    )


def approval_rejected(entry: str, reason: str) -> None:
    """Count a refused approval or signal (``entry``: validator, update or signal)."""
    _count(
        names.APPROVALS_REJECTED,
        "Approvals and approval signals refused, by reason.",
        {
            names.ENTRY: names.bounded(entry, names.APPROVAL_ENTRIES),
            names.REASON: names.bounded(reason, names.APPROVAL_REASONS),
        },
    )


def order_finished(outcome: str) -> None:
    """Count a finished order by its outcome."""
    _count(
        names.ORDER_OUTCOMES,
        "Orders finished, by outcome.",
        {names.OUTCOME: names.bounded(outcome, names.OUTCOMES)},
    )
