"""The ``orders`` CLI against the running stack: bad input is refused and nothing is written."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from temporalio.client import Client

from orders import client as orders_client
from orders.contract import identities
from orders.devstack.state import StackInfo, StackPaths
from orders.models import Outcome, Step
from tests.support import stack as support
from tests.support.stack import orders_cli

pytestmark = pytest.mark.integration

GOOD = {
    "customer_id": "cust-cli",
    "customer_email": "cli@example.com",
    "shipping_address": "3 Command Line, Shell City",
    "payment_reference": "tok-4242",
    "currency": "EUR",
    "items": [{"sku": "SKU-WIDGET", "quantity": 1}],
}


async def count_orders(stack: StackInfo) -> int:
    conn = await support.admin_pg(stack)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM orders.orders"))
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"customer_email": "not-an-email"}, "customer_email"),
        ({"items": [{"sku": "SKU-WIDGET", "quantity": 0}]}, "items.0.quantity"),
        ({"items": [{"sku": "bad sku!", "quantity": 1}]}, "items.0.sku"),
        ({"currency": "XXX"}, "currency"),
        ({"shipping_address": None}, "shipping_address"),
        ({"unexpected": "field"}, "unexpected"),
    ],
)
async def test_invalid_order_is_refused_naming_the_field(
    stack: StackInfo, stack_paths: StackPaths, tmp_path: Path, change: dict[str, object], field: str
) -> None:
    data = {**GOOD, **change}
    data = {k: v for k, v in data.items() if v is not None}
    order_file = tmp_path / "order.json"
    order_file.write_text(json.dumps(data))
    before = await count_orders(stack)
    done = orders_cli(stack_paths, "order", "place", "--json", str(order_file))
    assert done.returncode == 2, done.stderr
    assert f"{field}:" in done.stderr
    assert "nothing was started or written" in done.stderr
    # The offending value (possibly PII) is never echoed back.
    if "customer_email" in change:
        assert "not-an-email" not in done.stderr + done.stdout
    assert await count_orders(stack) == before


async def test_valid_order_prints_workflow_id_and_completes(
    stack: StackInfo, stack_paths: StackPaths, tmp_path: Path
) -> None:
    order_file = tmp_path / "order.json"
    order_file.write_text(json.dumps(GOOD))
    done = orders_cli(stack_paths, "order", "place", "--json", str(order_file), "--output", "json")
    assert done.returncode == 0, done.stderr
    wid = json.loads(done.stdout)["workflow_id"]
    assert wid.startswith("order-")

    async def completed() -> bool:
        st = orders_cli(stack_paths, "order", "status", wid, "--output", "json")
        return st.returncode == 0 and json.loads(st.stdout)["outcome"] == "COMPLETED"

    await support.eventually(completed, timeout=60)


async def test_approve_command_signs_as_the_approver_and_completes_the_order(
    stack: StackInfo, stack_paths: StackPaths, client: Client
) -> None:
    order = support.make_order("cli-approve", "SKU-LAPTOP", customer_id="cust-cli-approve")
    handle = await orders_client.place(client, order)

    async def waiting() -> bool:
        return (await orders_client.status(client, order.order_id)).step is Step.AWAITING_APPROVAL

    await support.eventually(waiting, timeout=60)
    # carol is inactive: in no group, Vault refuses to sign for her; nothing approved.
    refused = orders_cli(stack_paths, "order", "approve", order.order_id, "--as", "carol")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "may not sign" in refused.stderr
    done = orders_cli(stack_paths, "order", "approve", order.order_id, "--as", "bob")
    assert done.returncode == 0, done.stderr
    result = await asyncio.wait_for(handle.result(), 60)
    assert result.outcome is Outcome.COMPLETED
    assert [a.approver for a in result.approvals] == ["bob"]
    shown = orders_cli(stack_paths, "order", "status", order.order_id, "--output", "json")
    assert json.loads(shown.stdout)["approvals"][0]["approver"] == "bob"


def test_dev_status_lists_every_certificate_with_its_expiry(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    shown = orders_cli(stack_paths, "dev", "status")
    assert shown.returncode == 0, shown.stderr
    names = ["root CA", *(f"server {s}" for s in ("openbao", "postgres", "temporal"))]
    names += [f"client {w.name}" for w in identities.workers()]
    rows = {line.split("│")[1].strip(): line for line in shown.stdout.splitlines() if "│" in line}
    for name in names:
        assert name in rows, (name, shown.stdout)
    # Workers' client certificates are short-lived in the test stack: minutes and seconds.
    assert re.search(r"\b\d+m \d+s\b", rows["client order-workflow"]), rows["client order-workflow"]
    assert "d " in rows["root CA"]  # years, in days
    assert "PRIVATE KEY" not in shown.stdout
    # Per-identity credential state, read from the stack's Prometheus.
    assert f"Prometheus: {stack.prometheus_url}" in shown.stdout
    lines = shown.stdout.replace("┃", "│").splitlines()  # the header's rule is ┃
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in lines]
    header = next(c for c in cells if c[:2] == ["identity", "gen"])
    credentials = {c[0]: dict(zip(header, c, strict=True)) for c in cells if len(c) == len(header)}
    for worker in identities.workers():
        row = credentials[worker.name]
        assert int(row["gen"]) >= 1, row
        assert int(row["issued"]) >= 1, row
        assert row["last renewal"].endswith(" ago"), row
        assert row["cert renew/fail"] != "-", row


async def test_second_place_of_an_order_id_is_refused_in_one_line(
    stack: StackInfo, stack_paths: StackPaths, client: Client
) -> None:
    order = support.make_order("cli-twice", "SKU-WIDGET")
    first = await orders_client.place(client, order)
    args = [
        "order", "place", "--order-id", order.order_id, "--customer-id", "cust-cli",
        "--pii-file", "-", "--item", "SKU-GIZMO:1",
    ]  # fmt: skip
    pii = {k: GOOD[k] for k in ("customer_email", "shipping_address", "payment_reference")}
    done = orders_cli(stack_paths, *args, stdin=json.dumps(pii))
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"order {order.order_id} was already placed" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "cli@example.com" not in done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    # Still the first run, for the first basket.
    result = await asyncio.wait_for(first.result(), 60)
    assert result.outcome is Outcome.COMPLETED
    assert result.total_cents == 1250


@pytest.mark.parametrize(
    "command", [["status"], ["show"], ["approve", "--as", "bob"]], ids=lambda c: c[0]
)
def test_an_unknown_order_id_is_one_line_naming_it(
    stack: StackInfo, stack_paths: StackPaths, command: list[str]
) -> None:
    unknown = "no-such-order-0000"
    done = orders_cli(stack_paths, "order", command[0], unknown, *command[1:])
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        f"order {unknown}: not found (no workflow order-{unknown})"
    ]
