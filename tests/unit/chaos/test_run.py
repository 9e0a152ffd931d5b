"""The chaos suite's plans, pure invariants and report, without a stack."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from rich.console import Console

from orders.chaos import invariants
from orders.chaos.faults import FaultKind, FaultRecord
from orders.chaos.invariants import HistoryCounts
from orders.chaos.run import FULL, SHORT, Plan, Report, Step, print_report
from orders.chaos.workload import MIX, PlacedOrder, new_order
from orders.models import OrderStatus, Outcome
from orders.models import Step as OrderStep


def _placed(expected: Outcome, ended: Outcome | None, n: int = 0) -> PlacedOrder:
    order = PlacedOrder(new_order(random.Random(n), expected, "unit", n), expected)
    if ended is not None:
        order.status = OrderStatus(
            order_id=order.request.order_id, step=OrderStep.DONE, outcome=ended
        )
        order.finished_at = order.placed_at + 1.5
    return order


@pytest.mark.parametrize("plan", [FULL, SHORT])
def test_plans_inject_every_fault_while_orders_stream(plan: Plan) -> None:
    assert {s.kind for s in plan.steps} == set(FaultKind)
    assert max(s.at + s.seconds for s in plan.steps) <= plan.stream_seconds


def test_full_plan_is_the_issue_s_outage() -> None:
    outages = [s for s in FULL.steps if s.kind is FaultKind.VAULT_OUTAGE]
    assert [s.seconds for s in outages] == [30.0]
    assert sum(s.kind is FaultKind.WORKER_KILLED for s in FULL.steps) >= 8


def test_a_plan_missing_a_fault_kind_or_outlasting_the_stream_is_refused() -> None:
    with pytest.raises(ValueError, match="every kind"):
        Plan("x", (Step(1, FaultKind.WORKER_KILLED),), 10, 1, 1)
    steps = tuple(Step(1, k, 20 if k is FaultKind.VAULT_OUTAGE else 0) for k in FaultKind)
    with pytest.raises(ValueError, match="while orders still stream"):
        Plan("x", steps, 10, 1, 1)


@pytest.mark.parametrize("expected", [o for o, _ in MIX])
def test_orders_of_each_kind_are_valid_and_carry_their_own_pii(expected: Outcome) -> None:
    a, b = (new_order(random.Random(i), expected, "unit", i) for i in (1, 2))
    assert a.order_id != b.order_id
    assert len({*_placed(expected, None, 1).pii, *_placed(expected, None, 2).pii}) == 6


def test_terminal_and_outcome_invariants() -> None:
    good = [_placed(Outcome.COMPLETED, Outcome.COMPLETED, i) for i in range(3)]
    assert invariants.terminal(good).holds
    assert invariants.outcomes(good).holds
    stuck = _placed(Outcome.COMPLETED, None, 9)
    stuck.failure = "no result within 300s"
    assert not invariants.terminal([*good, stuck]).holds
    assert not invariants.terminal([]).holds
    wrong = _placed(Outcome.PAYMENT_DECLINED, Outcome.COMPLETED, 7)
    assert not invariants.outcomes([*good, wrong]).holds


def test_pii_scan_finds_a_leak(tmp_path: Path) -> None:
    orders = [_placed(Outcome.COMPLETED, Outcome.COMPLETED, i) for i in range(2)]
    clean, leaky = tmp_path / "a.log", tmp_path / "b.log"
    clean.write_text('{"event": "order recorded"}\n')
    assert invariants.no_pii_in_logs([clean], orders).holds
    leaky.write_text(f'{{"address": "{orders[1].request.shipping_address}"}}\n')
    result = invariants.no_pii_in_logs([clean, leaky], orders)
    assert not result.holds
    assert "b.log" in result.detail


def test_leftover_roles_and_workflow_task_invariants() -> None:
    assert invariants.leftover_roles([]).holds
    assert not invariants.leftover_roles(["v-order-notify-x"]).holds
    assert not invariants.leftover_roles(None).holds
    assert invariants.workflow_tasks(HistoryCounts(0, 2, 5, 10)).holds
    assert not invariants.workflow_tasks(HistoryCounts(1, 0, 0, 10)).holds


def test_seed_inventory_is_the_migration_s_catalogue() -> None:
    seed = invariants.seed_inventory()
    assert seed["SKU-SOLDOUT"] == 0
    assert all(qty >= 0 for qty in seed.values())


def test_report_prints_faults_orders_and_invariants() -> None:
    orders = [_placed(o, o, i) for i, (o, _) in enumerate(MIX)]
    faults = [
        FaultRecord(FaultKind.WORKER_KILLED, "order-validate", 1.0),
        FaultRecord(FaultKind.WORKER_KILLED, "order-validate", 2.0),
        FaultRecord(FaultKind.VAULT_OUTAGE, "openbao", 3.0, 8.2),
    ]
    report = Report(
        plan=SHORT,
        faults=faults,
        orders=orders,
        history=HistoryCounts(0, 0, 0, len(orders)),
        invariants=[invariants.terminal(orders), invariants.leftover_roles(["v-x"])],
        rotations=4,
        seconds=30.0,
    )
    assert not report.ok
    assert [i.name for i in report.failed()] == ["0 leftover dynamic roles after shutdown"]
    console = Console(record=True, width=200)
    print_report(report, console)
    text = console.export_text()
    assert "order-validate x2" in text
    assert "8.2" in text
    assert "credential rotations" in text
    assert "NO" in text
