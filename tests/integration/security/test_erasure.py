"""Right to erasure on the real stack: ``orders customer forget`` crypto-shreds a customer.

Orders of customers A and B complete; copies of Temporal's SQLite file and a ``pg_dump``
are taken (the "backups"); A is forgotten. Then, with every identity's own Vault login
(every key and policy there is), A's sealed fields open from none of history, tables or
the backups, B's still open for their consumers, and A's next order completes under new
key material. Forgetting a customer with an order in flight is refused and changes nothing.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowExecutionStatus

from orders import client as orders_client
from orders.contract import identities, transit_names
from orders.db.schema import orders
from orders.devstack import actas
from orders.devstack.servers.postgres import pg_bin
from orders.devstack.state import StackInfo, StackPaths
from orders.models import ApprovalPolicy, OrderRequest, Outcome, Step
from orders.security import codec
from orders.security.customer_keys import CustomerErasedError
from orders.security.sealing import Unsealer, customer_tag
from orders.security.transit import TransitClient, TransitDeniedError
from tests.support import stack as support
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration

ROW_FIELDS = ("customer_email", "shipping_address")


def _order(customer: str, tag: str) -> OrderRequest:
    return support.make_order(
        f"ord-erase-{customer.lower()}-{tag}",
        sku="SKU-WIDGET",
        qty=1,
        email=f"{customer.lower()}.{tag}@erasure.example",
        address=f"{tag} {customer}-Street, Erasureville",
        ref=f"tok-erase-{customer.lower()}-{tag}",
        customer_id=f"cust-erase-{customer.lower()}-{tag}",
    )


def _constant(token: str) -> Callable[[], str]:
    return lambda: token


@pytest.fixture(scope="module")
def transits(stack: StackInfo, stack_paths: StackPaths) -> Iterator[dict[str, TransitClient]]:
    """Every identity's Transit client, each with its own Kubernetes-auth login."""
    logins = {i.name: support.login_as(stack, stack_paths, i) for i in identities.ALL}
    clients = {
        name: TransitClient(stack.vault_addr, _constant(c.token), verify=stack.verify)
        for name, c in logins.items()
    }
    yield clients
    for login in logins.values():
        login.auth.token.revoke_self()


@pytest.fixture
async def closing(transits: dict[str, TransitClient]) -> AsyncIterator[None]:
    yield
    await asyncio.gather(*(t.aclose() for t in transits.values()))


def _sqlite_copy(stack_paths: StackPaths, dest: Path) -> Path:
    """A consistent copy of Temporal's live SQLite database (WAL included)."""
    source = sqlite3.connect(f"file:{stack_paths.temporal_db}?mode=ro", uri=True)
    target = sqlite3.connect(dest)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return dest


def _started_inputs(db: Path) -> list[Any]:
    """The encrypted input payloads of every workflow-started event in a copy of Temporal's store.

    Other tests in the session start workflows with payloads the codec refuses on purpose
    (plaintext); those are no order's input and are left out.
    """
    conn = sqlite3.connect(db)
    try:
        blobs = [row[0] for row in conn.execute("SELECT data FROM history_node")]
    finally:
        conn.close()
    inputs = []
    for blob in blobs:
        for event in History.FromString(blob).events:
            if event.HasField("workflow_execution_started_event_attributes"):
                payloads = event.workflow_execution_started_event_attributes.input.payloads
                if all(p.metadata.get("encoding") == codec.ENCODING for p in payloads):
                    inputs.append(payloads)
    return inputs


async def _pg_dump(stack: StackInfo, dest: Path) -> str:
    """A plain-format ``pg_dump`` of the database (the stack's own binary, as the superuser)."""
    dsn = urlsplit(stack.postgres_admin_dsn)
    async with support.pg_plain_relay(stack) as port:
        plain = f"postgresql://{dsn.username}:{dsn.password}@127.0.0.1:{port}{dsn.path}"
        done = await asyncio.to_thread(
            subprocess.run,
            [str(pg_bin("pg_dump")), "--dbname", plain, "--file", str(dest)],
            check=False,
            timeout=60,
            capture_output=True,
            text=True,
        )
    assert done.returncode == 0, done.stderr
    return dest.read_text()


def _dumped_orders(dump: str) -> dict[str, dict[str, str]]:
    """Rows of ``orders.orders`` in a plain-format dump, by order id."""
    match = re.search(
        r"^COPY orders\.orders \(([^)]*)\) FROM stdin;\n(.*?)^\\\.$", dump, re.M | re.S
    )
    assert match, "the dump has the orders table"
    columns = [c.strip().strip('"') for c in match[1].split(",")]
    rows = [dict(zip(columns, line.split("\t"), strict=True)) for line in match[2].splitlines()]
    return {row["id"]: row for row in rows}


async def _opens(transits: dict[str, TransitClient], field: str, oid: str, value: str) -> list[str]:
    """Identities that open ``value`` (each tries as the field's consumer, with its token)."""
    spec = next(s for s in transit_names.SEALED_FIELDS if s.field == field)
    opened = []
    for name, transit in transits.items():
        try:
            await Unsealer(transit, spec.consumer).unseal(field, oid, value)
        except (TransitDeniedError, CustomerErasedError):
            continue
        opened.append(name)
    return opened


async def test_forget_shreds_history_tables_and_backups(
    stack: StackInfo,
    stack_paths: StackPaths,
    client: Client,
    transits: dict[str, TransitClient],
    closing: None,
    tmp_path: Path,
) -> None:
    tag = uuid.uuid4().hex[:8]
    a1, b1, a2 = _order("A", tag), _order("B", tag), _order("A", tag)
    in_flight = _order("C", tag)
    held = await orders_client.place(
        client, in_flight, ApprovalPolicy(threshold_cents=0, deadline_seconds=30)
    )
    results = await asyncio.gather(support.complete(client, a1), support.complete(client, b1))
    assert [r.outcome for r in results] == [Outcome.COMPLETED, Outcome.COMPLETED]

    sqlite_backup = _sqlite_copy(stack_paths, tmp_path / "temporal-backup.db")
    dump = _dumped_orders(await _pg_dump(stack, tmp_path / "orders-backup.sql"))
    backup_inputs = [
        decoded
        for payloads in _started_inputs(sqlite_backup)
        for decoded in await client.data_converter.decode(payloads)
    ]
    backup_by_order = {d["order_id"]: d for d in backup_inputs if isinstance(d, dict)}
    assert {a1.order_id, b1.order_id} <= set(backup_by_order)

    # In flight: refused, naming the order, and nothing changes.
    await wait_for(lambda: _step_is(client, in_flight.order_id, Step.AWAITING_APPROVAL), timeout=20)
    c_tag = customer_tag(backup_by_order[in_flight.order_id]["customer_email"])
    refused = await asyncio.to_thread(
        support.orders_cli, stack_paths, "customer", "forget", in_flight.customer_id
    )
    assert refused.returncode == 1, refused.stderr
    assert in_flight.order_id in refused.stderr
    assert in_flight.customer_id not in refused.stdout + refused.stderr
    admin = support.vault(stack, stack.root_token())
    assert admin.read(f"transit/keys/{transit_names.customer_key(str(c_tag))}") is not None
    assert (await held.describe()).status is WorkflowExecutionStatus.RUNNING

    forgot = await asyncio.to_thread(
        support.orders_cli, stack_paths, "customer", "forget", a1.customer_id
    )
    assert forgot.returncode == 0, forgot.stderr
    assert "1 order(s), 2 database value(s) and 1 workflow history" in forgot.stdout
    a_tag = customer_tag(dump[a1.order_id]["customer_email"])
    assert a_tag is not None
    assert a_tag in forgot.stdout
    assert admin.read(f"transit/keys/{transit_names.customer_key(a_tag)}") is None

    # A's values: history (live and backup), table (live and dump) -- nobody opens them.
    live = await client.get_workflow_handle(a1.workflow_id).fetch_history()
    (live_input,) = await client.data_converter.decode(
        live.events[0].workflow_execution_started_event_attributes.input.payloads
    )
    async with support.acting_as(stack, stack_paths, identities.ORDER_FULFILL) as fulfill:
        query = select(orders.c.shipping_address).where(orders.c.id == a1.order_id)
        async with fulfill.engine.connect() as conn:
            stored = (await conn.execute(query)).scalar_one()
    sources = {
        "live history": live_input,
        "sqlite backup": backup_by_order[a1.order_id],
        "pg_dump": dump[a1.order_id],
    }
    for source, values in sources.items():
        for field in (*ROW_FIELDS, "payment_reference"):
            if field in values:
                assert await _opens(transits, field, a1.order_id, values[field]) == [], source
    assert await _opens(transits, "shipping_address", a1.order_id, stored) == []

    # B's still open, for their consumers only.
    for source, values in {
        "sqlite backup": backup_by_order[b1.order_id],
        "pg_dump": dump[b1.order_id],
    }.items():
        for field in ROW_FIELDS:
            spec = next(s for s in transit_names.SEALED_FIELDS if s.field == field)
            assert await _opens(transits, field, b1.order_id, values[field]) == [
                spec.consumer.name
            ], source

    # The erasure record: the tag, counts and the eraser's login; no personal data.
    pg = await support.admin_pg(stack)
    try:
        records = await pg.fetch(
            "SELECT * FROM orders.erasures WHERE customer_tag = ANY($1::text[])", [a_tag, c_tag]
        )
    finally:
        await pg.close()
    assert len(records) == 1
    record = dict(records[0])
    assert record["customer_tag"] == a_tag
    assert (record["orders_affected"], record["histories_affected"]) == (1, 1)
    assert "customer-eraser" in record["written_by"] or "customer_eraser" in record["written_by"]
    text = repr(record)
    for secret in (a1.customer_id, a1.customer_email, a1.shipping_address):
        assert secret not in text

    # Audited: OpenBao's audit log has the eraser's delete of that key.
    audit = stack_paths.log_file("openbao-audit").read_text()
    assert f"transit/keys/{transit_names.customer_key(a_tag)}" in audit

    # `orders order show` tells the operator A's fields are erased (not merely sealed).
    shown = await asyncio.to_thread(support.orders_cli, stack_paths, "order", "show", a1.order_id)
    assert shown.returncode == 0, shown.stderr
    table = re.sub(r"[\s│]", "", shown.stdout)  # the table folds long cells
    assert '"customer_email":"erased"' in table
    assert "sealed:v2." not in table

    # A's next order (from a client started after the erasure) completes, new key material.
    async with actas.temporal_client(stack, stack_paths) as fresh:
        assert (await support.complete(fresh, a2)).outcome is Outcome.COMPLETED
    assert admin.read(f"transit/keys/{transit_names.customer_key(a_tag)}") is not None


async def _step_is(client: Client, order_id: str, step: Step) -> bool:
    return (await orders_client.status(client, order_id)).step is step
