"""``orders demo``: run the scenarios against the running stack and print the evidence.

Scenarios: a happy order, an order for a sold-out SKU, a declined payment (inventory
released), and an undeliverable address after payment (refund, then release). Evidence:
each activity's queue and worker identity from the history, the Vault-issued Postgres
user (and its group) that wrote each row, the workers' live sessions, and refused
cross-identity attempts (by Vault and by Postgres).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import hvac
from rich.console import Console
from rich.table import Table
from temporalio.client import Client

from orders import client as orders_client
from orders import evidence
from orders.contract import identities, temporal_access
from orders.db.engine import ssl_context
from orders.demo_erasure import erasure_evidence
from orders.devstack import actas
from orders.devstack.identity_env import identity_settings
from orders.devstack.servers import FRONT_TOKEN_KEY
from orders.devstack.state import StackInfo, StackPaths
from orders.front import probes
from orders.front.tokens import TokenBinding
from orders.models import (
    ApprovalPolicy,
    OrderItem,
    OrderRequest,
    OrderStatus,
    Outcome,
    Step,
    workflow_id_for,
)
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


async def temporal_attempts(
    stack: StackInfo, paths: StackPaths, identity: identities.Identity
) -> tuple[list[tuple[str, bool, str]], list[str]]:
    """What ``identity``, holding its worker's certificate, gets from Temporal for each probe.

    Returns:
        (attempt, allowed by the contract, status code name) per probe, and the probes whose
        answer differs from the contract.
    """
    vault = await asyncio.to_thread(actas.login_as, stack, paths, identity)
    cert = await asyncio.to_thread(probes.holdings, vault, identity)
    binding = TokenBinding((paths.secrets / FRONT_TOKEN_KEY).read_bytes())
    mine = list(probes.probes(binding, identity))
    assert stack.ca_file
    assert stack.temporal_server_name
    target, name = stack.temporal_address, stack.temporal_server_name
    async with probes.channel(target, stack.ca_file, name, cert) as chan:
        answers = await asyncio.gather(*(probes.attempt(chan, p) for p in mine))
    access = temporal_access.temporal_access(identity)
    rows = [
        (p.name, p.allowed(access), code.name) for p, (code, _) in zip(mine, answers, strict=True)
    ]
    return rows, probes.wrong_answers(access, mine, answers)


def unseal_attempts(
    stack: StackInfo, paths: StackPaths, order: OrderRequest, decoded: dict[str, object]
) -> list[tuple[str, str]]:
    """Who can open the sealed address: only order-fulfill (others get a Vault 403)."""

    async def attempt(identity: identities.Identity) -> str:
        settings = identity_settings(stack, paths, identity)
        await asyncio.to_thread(actas.projected_token, stack, paths, identity)
        session = VaultSession(identity, settings)
        await session.start()
        transit = TransitClient(
            settings.vault_addr, lambda: str(session.client.token), verify=stack.verify
        )
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


async def _signed(
    client: Client,
    stack: StackInfo,
    paths: StackPaths,
    order_id: str,
    approver: str,
    valid_for: int = 900,
) -> Any:
    """An approval of ``order_id`` (as the workflow reports it) signed by ``approver`` in Vault."""
    from orders.approvals import Decision, SignedApproval, canonical_bytes, new_message
    from orders.devstack.people import dev_password
    from orders.vault.approvers import sign_as

    st = await orders_client.status(client, order_id)
    assert st.total_cents is not None
    assert st.currency is not None
    message = new_message(
        namespace=client.namespace, workflow_id=workflow_id_for(order_id), order_id=order_id,
        amount_cents=st.total_cents, currency=st.currency, decision=Decision.APPROVE,
        approver=approver, nonce=secrets.token_urlsafe(24), issued_at=datetime.now(UTC),
        valid_for=timedelta(seconds=valid_for),
    )  # fmt: skip
    password = dev_password(paths, approver)
    signature = await sign_as(
        stack.vault_addr, approver, password, canonical_bytes(message), verify=stack.verify
    )
    return SignedApproval(message=message, signature=signature)


async def _until(
    client: Client, order_id: str, check: Callable[[OrderStatus], bool], seconds: float = 60
) -> None:
    """Poll the order's status until ``check`` holds (bounded)."""
    for _ in range(int(seconds / 0.3)):
        if check(await orders_client.status(client, order_id)):
            return
        await asyncio.sleep(0.3)
    raise TimeoutError(f"order {order_id} did not reach the expected state")


async def _try(client: Client, order_id: str, approval: Any) -> str:
    try:
        accepted = await orders_client.send_approval(client, workflow_id_for(order_id), approval)
    except orders_client.ApprovalRefusedError as refused:
        return f"refused: {refused}"
    return f"accepted (key v{accepted.key_version})" if accepted else "sent"


async def approvals_evidence(
    client: Client, stack: StackInfo, paths: StackPaths, out: Console
) -> bool:
    """Section 7: signed approvals verified inside the workflow."""
    run = uuid.uuid4().hex[:6]

    def laptop(name: str) -> OrderRequest:
        return OrderRequest(
            order_id=f"demo-{run}-{name}", customer_id=f"cust-{name}",
            customer_email=f"{name}.{run}@example.com", shipping_address="1 Approval Row, Signham",
            payment_reference="tok-4242", items=(OrderItem(sku="SKU-LAPTOP", quantity=1),),
        )  # fmt: skip

    a, b = laptop("approved"), laptop("rejected")
    ha = await orders_client.place(client, a)
    hb = await orders_client.place(client, b, ApprovalPolicy(deadline_seconds=20))
    for order in (a, b):
        await _until(client, order.order_id, lambda st: st.step is Step.AWAITING_APPROVAL)
    t = _table(
        "7. Signed approvals (orders of 1,499.00; threshold 1,000.00)", "order", "attempt", "result"
    )
    ok = True

    bobs = await _signed(client, stack, paths, a.order_id, "bob")
    verdict = await _try(client, a.order_id, bobs)
    ok &= verdict.startswith("accepted")
    t.add_row("approved", "bob signs in Vault, sent as the approve Update", verdict)

    forged = json.dumps({"approver": "bob", "decision": "approve", "signature": "vault:v1:AAAA"})
    with actas.temporal_cli_args(stack, paths) as connection:
        await asyncio.to_thread(
            subprocess.run,
            [
                str(Path(sys.executable).parent / "temporal"), "workflow", "signal", "-w",
                b.workflow_id, "--name", "approval", "--input", forged, *connection,
            ],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
    await _until(client, b.order_id, lambda st: st.rejected_signals >= 1)
    t.add_row("rejected", "forged approval as a raw signal (temporal CLI)", "dropped, counted")
    verdict = await _try(client, b.order_id, bobs)
    ok &= verdict.startswith("refused")
    t.add_row("rejected", "bob's approval of the other order, replayed", verdict)
    expiring = await _signed(client, stack, paths, b.order_id, "bob", valid_for=1)
    await asyncio.sleep(2)
    verdict = await _try(client, b.order_id, expiring)
    ok &= verdict.startswith("refused")
    t.add_row("rejected", "bob's approval, sent after it expired", verdict)
    ra, rb = await ha.result(), await hb.result()
    ok &= ra.outcome is Outcome.COMPLETED and rb.outcome is Outcome.REJECTED
    t.add_row("approved", "outcome", f"{ra.outcome}; approvals: {len(ra.approvals)}")
    t.add_row(
        "rejected",
        "no valid approval before the 20 s deadline",
        f"{rb.outcome}; compensations: {', '.join(rb.compensations)}",
    )
    out.print(t)
    return ok


def _pg_refusal(stack: StackInfo, cred: dict[str, str]) -> str:
    async def attempt() -> str:
        conn = await asyncpg.connect(
            host=stack.postgres_host,
            port=stack.postgres_port,
            database=stack.database,
            user=cred["username"],
            password=cred["password"],
            timeout=10,
            ssl=ssl_context(Path(stack.ca_file)) if stack.ca_file else None,
            direct_tls=bool(stack.ca_file),
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
    with actas.temporal_cli_args(stack, paths) as connection:
        raw = evidence.raw_history_json(connection, happy.order.workflow_id)
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
    sealed_ok = all(str(decoded[f]).startswith("sealed:v2.") for f in sealed_fields)
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

    ok &= await approvals_evidence(client, stack, paths, out)

    compromised = identities.ORDER_NOTIFY
    t = _table(
        f"8. A compromised {compromised.name} at Temporal (through the authorization front)",
        "attempt", "contract", "Temporal's answer",
    )  # fmt: skip
    rows, wrong = await temporal_attempts(stack, paths, compromised)
    ok &= not wrong
    for what, allowed, answer in rows:
        good = (answer == "PERMISSION_DENIED") != allowed
        shown = answer if good else f"[red]{answer} (!)[/red]"
        t.add_row(what, "allowed" if allowed else "refused", shown)
    out.print(t)

    ok &= await erasure_evidence(client, stack, paths, out, items[0].order.order_id.split("-")[1])

    out.print(
        "[green]All scenarios behaved as expected.[/green]"
        if ok
        else "[red]Evidence check failed.[/red]"
    )
    out.print(
        "`orders dev down` revokes every lease and reports leftover dynamic roles (expect 0)."
    )
    return 0 if ok else 1
