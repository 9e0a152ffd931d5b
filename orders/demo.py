"""``orders demo``: run the scenarios against the running stack and print the evidence.

Scenarios: a happy order, an order for a sold-out SKU, a declined payment (inventory
released), and an undeliverable address after payment (refund, then release). Evidence:
each activity's queue and worker identity from the history, the Vault-issued Postgres
user (and its group) that wrote each row, the workers' live sessions, and refused
cross-identity attempts (by Vault and by Postgres).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import asyncpg
import hvac
from rich.console import Console
from rich.table import Table
from temporalio.client import Client

from orders import client as orders_client
from orders import evidence, identities
from orders.devstack import actas
from orders.devstack.state import StackInfo, StackPaths
from orders.devstack.supervisor import identity_settings
from orders.models import OrderItem, OrderRequest, OrderStatus, Outcome
from orders.security.sealing import Unsealer
from orders.security.transit import TransitClient, TransitDeniedError
from orders.security.vault import VaultSession


@dataclass(frozen=True)
class Scenario:
    """One demo order and the outcome it must reach."""

    name: str
    order: OrderRequest
    expected: Outcome


def scenarios(run_id: str) -> list[Scenario]:
    """The demo's orders (fake PII, generated per run)."""

    def order(name: str, sku: str, qty: int, *, ref: str, address: str) -> OrderRequest:
        return OrderRequest(
            order_id=f"demo-{run_id}-{name}",
            customer_id=f"cust-{name}",
            customer_email=f"{name}.{run_id}@example.com",
            shipping_address=address,
            payment_reference=ref,
            currency="EUR",
            items=(OrderItem(sku=sku, quantity=qty),),
        )

    street = "12 Harbour Road, Portsmouth"
    return [
        Scenario(
            "happy",
            order("happy", "SKU-WIDGET", 2, ref="tok-4242", address=street),
            Outcome.COMPLETED,
        ),
        Scenario(
            "out-of-stock",
            order("soldout", "SKU-SOLDOUT", 1, ref="tok-4242", address=street),
            Outcome.OUT_OF_STOCK,
        ),
        Scenario(
            "payment-declined",
            order("declined", "SKU-GADGET", 1, ref="decline-insufficient", address=street),
            Outcome.PAYMENT_DECLINED,
        ),
        Scenario(
            "undeliverable",
            order(
                "undeliv", "SKU-GIZMO", 3, ref="tok-4242", address="Undeliverable Lane 0, Atlantis"
            ),
            Outcome.FULFILLMENT_FAILED,
        ),
    ]


async def run_scenarios(client: Client, items: list[Scenario]) -> list[OrderStatus]:
    """Place every scenario's order concurrently and wait for the results."""
    handles = [await orders_client.place(client, s.order) for s in items]
    return list(await asyncio.gather(*(h.result() for h in handles)))


def refused_attempts(stack: StackInfo, paths: StackPaths) -> list[tuple[str, str, str]]:
    """Cross-identity attempts by order-notify, each of which must be refused."""
    notify, payment = identities.ORDER_NOTIFY, identities.ORDER_PROCESS_PAYMENT
    rows: list[tuple[str, str, str]] = []
    client = actas.login_as(stack, paths, notify)
    try:
        client.secrets.database.generate_credentials(payment.db_role)
        rows.append((notify.name, f"read database/creds/{payment.db_role}", "ALLOWED (!)"))
    except hvac.exceptions.Forbidden:
        rows.append((notify.name, f"read database/creds/{payment.db_role}", "Vault: 403"))
    try:
        actas.login(stack, payment.vault_role, actas.projected_token(stack, paths, notify))
        rows.append((notify.name, f"log in as Vault role {payment.vault_role}", "ALLOWED (!)"))
    except (hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest):
        rows.append((notify.name, f"log in as Vault role {payment.vault_role}", "Vault: refused"))
    own = client.secrets.database.generate_credentials(notify.db_role)
    rows.append(
        (notify.name, "SELECT payments with its own credential", _pg_refusal(stack, own["data"]))
    )
    client.auth.token.revoke_self()  # revokes the lease: the role is dropped now
    return rows


def unseal_attempts(
    stack: StackInfo, paths: StackPaths, order: OrderRequest, decoded: dict[str, object]
) -> list[tuple[str, str]]:
    """Who can open the sealed address: only order-fulfill (others get a Vault 403)."""

    async def attempt(identity: identities.Identity) -> str:
        settings = identity_settings(stack, paths, identity)
        await asyncio.to_thread(actas.projected_token, stack, paths, identity)
        session = VaultSession(identity, settings)
        await session.start()
        transit = TransitClient(settings.vault_addr, lambda: str(session.client.token))
        try:
            # Skip the local consumer check on purpose: Vault itself must refuse the unwrap.
            unsealer = Unsealer(transit, identities.ORDER_FULFILL)
            value = await unsealer.unseal(
                "shipping_address", order.order_id, str(decoded["shipping_address"])
            )
            return "opened (matches)" if value == order.shipping_address else "[red]WRONG[/red]"
        except TransitDeniedError:
            return "Vault: 403"
        finally:
            await transit.aclose()
            await session.close()

    # Runs in a worker thread (see _run_demo): a fresh event loop per attempt is fine.
    return [
        (ident.name, asyncio.run(attempt(ident)))
        for ident in (identities.ORDER_FULFILL, identities.ORDER_WORKFLOW, identities.ORDER_NOTIFY)
    ]


def _pg_refusal(stack: StackInfo, cred: dict[str, str]) -> str:
    async def attempt() -> str:
        conn = await asyncpg.connect(
            host=stack.postgres_host,
            port=stack.postgres_port,
            database=stack.database,
            user=cred["username"],
            password=cred["password"],
            timeout=10,
        )
        try:
            await conn.fetch(f"SELECT * FROM {identities.DB_SCHEMA}.payments LIMIT 1")
            return "ALLOWED (!)"
        except asyncpg.exceptions.InsufficientPrivilegeError:
            return "Postgres: permission denied"
        finally:
            await conn.close()

    # refused_attempts runs in a worker thread (see run_demo): a fresh event loop is fine.
    return asyncio.run(attempt())


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, overflow="fold")
    return table


async def run_demo(stack: StackInfo, paths: StackPaths, out: Console) -> int:
    """Run the scenarios and print the evidence; returns the exit code."""
    async with actas.temporal_client(stack, paths) as client:
        return await _run_demo(client, stack, paths, out)


async def _run_demo(client: Client, stack: StackInfo, paths: StackPaths, out: Console) -> int:
    items = scenarios(uuid.uuid4().hex[:8])
    out.print(
        f"[bold]Placing {len(items)} orders[/bold] on queue {identities.ORDER_WORKFLOW.task_queue}"
    )
    results = await run_scenarios(client, items)
    ok = True

    t = _table("1. Outcomes", "scenario", "outcome", "expected", "steps", "compensations")
    for scenario, result in zip(items, results, strict=True):
        good = result.outcome is scenario.expected
        ok &= good
        t.add_row(
            scenario.name,
            f"[{'green' if good else 'red'}]{result.outcome}[/]",
            str(scenario.expected),
            " → ".join(result.completed_steps),
            ", ".join(result.compensations) or "-",
        )
    out.print(t)

    t = _table(
        "2. Who ran each activity (from workflow history)",
        "scenario", "activity", "task queue", "worker identity", "on its own queue",
    )  # fmt: skip
    for scenario in items:
        for run in await evidence.activity_runs(client, scenario.order.workflow_id):
            own = run.task_queue == run.expected_queue and run.worker_identity.startswith(
                run.task_queue + "@"
            )
            ok &= own
            t.add_row(scenario.name, run.activity, run.task_queue, run.worker_identity,
                      "yes" if own else "[red]NO[/red]")  # fmt: skip
    out.print(t)

    t = _table(
        "3. Who wrote each row (Postgres session_user)",
        "scenario",
        "table",
        "Vault-issued DB user",
        "group",
    )
    for scenario in (items[0], items[3]):
        for w in await evidence.writers(stack.postgres_admin_dsn, scenario.order.order_id):
            t.add_row(scenario.name, w.table, w.db_user, w.groups)
    out.print(t)

    t = _table(
        "4. Live worker sessions in Postgres", "identity", "Vault-issued DB user", "group", "conns"
    )
    for s in await evidence.sessions(stack.postgres_admin_dsn):
        t.add_row(s.identity, s.db_user, s.groups, str(s.connections))
    out.print(t)

    t = _table("5. Refused cross-identity attempts", "as identity", "attempt", "result")
    for who, what, verdict in await asyncio.to_thread(refused_attempts, stack, paths):
        ok &= "ALLOWED" not in verdict
        t.add_row(who, what, verdict)
    out.print(t)

    happy = items[0]
    t = _table(
        "6. Payload protection (happy order)", "view", "who", "e-mail / address / payment ref",
        "customer id, items",
    )  # fmt: skip
    raw = evidence.raw_history_json(
        stack.temporal_address, stack.namespace, happy.order.workflow_id
    )
    pii = (happy.order.customer_email, happy.order.shipping_address, happy.order.payment_reference)
    leaked = [v for v in pii if v in raw]
    ok &= not leaked
    t.add_row(
        "raw history (temporal workflow show)", "anyone with Temporal access",
        "[red]PRESENT (!)[/red]" if leaked else "absent", "absent (encrypted payloads)",
    )  # fmt: skip
    started = (await evidence.decoded_history(client, happy.order.workflow_id))[0]
    decoded = started.payloads[0]
    assert isinstance(decoded, dict)
    sealed_fields = ("customer_email", "shipping_address", "payment_reference")
    sealed_ok = all(str(decoded[f]).startswith("sealed:v1.") for f in sealed_fields)
    ok &= sealed_ok and decoded["customer_id"] == happy.order.customer_id
    t.add_row(
        "decoded history", identities.ORDER_CLIENT.name,
        "still sealed (need-to-know)" if sealed_ok else "[red]VISIBLE (!)[/red]",
        f"{decoded['customer_id']}, {len(decoded['items'])} item(s)",
    )  # fmt: skip
    for who, what in await asyncio.to_thread(unseal_attempts, stack, paths, happy.order, decoded):
        ok &= what.startswith(("opened", "Vault: 403"))
        t.add_row("unseal shipping_address", who, what, "")
    out.print(t)

    out.print(
        "[green]All scenarios behaved as expected.[/green]"
        if ok
        else "[red]Evidence check failed.[/red]"
    )
    out.print(
        "`orders dev down` revokes every lease and reports leftover dynamic roles (expect 0)."
    )
    return 0 if ok else 1
