"""``orders order …``: place, inspect and approve orders (a part of :mod:`orders.cli`).

Personal data never goes through argv: ``ps`` shows every process's arguments to every
local user, and shells keep them in their history. ``order place`` reads the e-mail,
address and payment reference from a JSON file (``--pii-file``, ``-`` for stdin) or, on
a terminal, from prompts (the payment reference without echo). The old ``--email``,
``--address`` and ``--payment-ref`` options are refused, pointing to those.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.table import Table

from orders import client as orders_client
from orders.cli import _paths, _stack, err, out
from orders.contract import identities
from orders.devstack import actas
from orders.models import workflow_id_for

order = typer.Typer(no_args_is_help=True, help="Place and inspect orders.")

STDIN: Final = Path("-")
PII_FIELDS: Final = {
    "customer_email": ("--email", "Customer e-mail"),
    "shipping_address": ("--address", "Shipping address"),
    "payment_reference": ("--payment-ref", "Payment reference"),
}
"""Need-to-know fields read off argv: field -> (refused option, prompt)."""
HIDDEN_PROMPT: Final = frozenset({"payment_reference"})


class Output(enum.StrEnum):
    """What a command prints on stdout."""

    text = "text"
    json = "json"


OutputOpt = Annotated[Output, typer.Option(help="Output format.")]
OrderIdArg = Annotated[str, typer.Argument(help="Order id or workflow id.")]


def _wid(order_id: str) -> str:
    return order_id if order_id.startswith("order-") else workflow_id_for(order_id)


@contextlib.contextmanager
def _known_order(order_id: str) -> Iterator[None]:
    """Turn Temporal's "no such workflow" into one line naming the order, exit 2."""
    from temporalio.service import RPCError, RPCStatusCode

    try:
        yield
    except RPCError as exc:
        if exc.status is not RPCStatusCode.NOT_FOUND:
            raise
        err.print(f"[red]order {order_id}: not found (no workflow {_wid(order_id)})[/red]")
        raise typer.Exit(2) from None


def _read_text(source: Path, option: str) -> str:
    """The text of ``source`` (``-``: stdin).

    Raises:
        InvalidOrderError: Naming ``option`` and why the file cannot be read.
    """
    try:
        return sys.stdin.read() if source == STDIN else source.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise orders_client.InvalidOrderError([(option, f"{source} is not UTF-8 text")]) from None
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise orders_client.InvalidOrderError([(option, f"cannot read {source}: {why}")]) from None


def _pii_from_file(source: Path) -> dict[str, Any]:
    data = orders_client.json_object(_read_text(source, "--pii-file"), "--pii-file")
    unexpected = sorted(set(data) - set(PII_FIELDS))
    if unexpected:
        allowed = ", ".join(PII_FIELDS)
        raise orders_client.InvalidOrderError(
            [("--pii-file", f"unexpected field(s) {', '.join(unexpected)}; allowed: {allowed}")]
        )
    return data


def _interactive() -> bool:
    """Whether a person can answer prompts (stdin and stderr are terminals)."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def _pii_from_prompts() -> dict[str, Any]:
    if not _interactive():
        hint = "give it in --pii-file FILE, on stdin (--pii-file -), or at a terminal's prompt"
        raise orders_client.InvalidOrderError([(field, f"missing: {hint}") for field in PII_FIELDS])
    return {
        field: typer.prompt(label, hide_input=field in HIDDEN_PROMPT, err=True)
        for field, (_, label) in PII_FIELDS.items()
    }


def _refuse_pii_in_argv(given: dict[str, str | None]) -> None:
    """Refuse PII options (their value is already in ``ps`` and the shell history)."""
    named = [PII_FIELDS[field][0] for field, value in given.items() if value is not None]
    if named:
        err.print(
            f"[red]{', '.join(named)}: refused, personal data in argv is visible in `ps` and "
            "shell history; use --pii-file FILE, --pii-file - (stdin) or the prompts.[/red]"
        )
        raise typer.Exit(2)


def _place(order_req: Any, output: Output) -> None:
    from temporalio.exceptions import WorkflowAlreadyStartedError

    async def go() -> str:
        async with actas.temporal_client(_stack(), _paths()) as client:
            handle = await orders_client.place(client, order_req)
            return handle.id

    try:
        wid = asyncio.run(go())
    except WorkflowAlreadyStartedError:
        # An order id is used once (whatever became of it): say so, no traceback.
        err.print(
            f"[red]order {order_req.order_id} was already placed (workflow "
            f"{order_req.workflow_id}); an order id is used once: place a new order.[/red]"
        )
        raise typer.Exit(2) from None
    if output is Output.json:
        out.print_json(json.dumps({"workflow_id": wid, "order_id": order_req.order_id}))
    else:
        out.print(f"Order {order_req.order_id} placed: workflow {wid}")


PiiFlag = Annotated[str | None, typer.Option(hidden=True, show_default=False)]


@order.command("place")
def order_place(
    customer_id: Annotated[str | None, typer.Option(help="Customer id.")] = None,
    pii_file: Annotated[
        Path | None,
        typer.Option(
            help="JSON object with customer_email, shipping_address, payment_reference "
            "('-': stdin). Without it, a terminal prompts for them."
        ),
    ] = None,
    currency: Annotated[str, typer.Option(help="ISO currency.")] = "EUR",
    item: Annotated[list[str] | None, typer.Option(help="SKU:QUANTITY (repeatable).")] = None,
    order_id: Annotated[str | None, typer.Option(help="Order id (default: a new UUID).")] = None,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="The whole order as a JSON file ('-': stdin).")
    ] = None,
    output: OutputOpt = Output.text,
    email: PiiFlag = None,
    address: PiiFlag = None,
    payment_ref: PiiFlag = None,
) -> None:
    """Validate an order and start its workflow. Invalid orders are refused, naming the field.

    The e-mail, address and payment reference come from --pii-file (or the whole order
    from --json), or from prompts: never from argv.
    """
    _refuse_pii_in_argv(
        {"customer_email": email, "shipping_address": address, "payment_reference": payment_ref}
    )
    try:
        if json_file is not None:
            if pii_file is not None:
                raise orders_client.InvalidOrderError(
                    [("--pii-file", "not with --json (the order file holds those fields)")]
                )
            data = orders_client.json_object(_read_text(json_file, "--json"), "order")
            order_req = orders_client.parse_order(data)
        else:
            data = {
                "customer_id": customer_id,
                "currency": currency,
                "items": orders_client.parse_items(item or []),
                "order_id": order_id,
            }
            data |= _pii_from_file(pii_file) if pii_file is not None else _pii_from_prompts()
            order_req = orders_client.parse_order({k: v for k, v in data.items() if v is not None})
    except orders_client.InvalidOrderError as exc:
        err.print("[red]Order refused; nothing was started or written.[/red]")
        for field, msg in exc.problems:
            err.print(f"  {field}: {msg}")
        raise typer.Exit(2) from None
    _place(order_req, output)


@order.command("show")
def order_show(order_id: OrderIdArg) -> None:
    """Print the order's history decoded with the client identity's key.

    Need-to-know fields stay sealed here: only their consuming activity can open them. Those
    of a customer who was forgotten (``orders customer forget``) show as ``erased``.
    """
    from orders import evidence
    from orders.security.erased_view import ErasedView

    wid = _wid(order_id)

    async def go() -> list[evidence.DecodedEvent]:
        async with actas.acting(_stack(), _paths(), identities.ORDER_CLIENT) as act:
            events = await evidence.decoded_history(act.client, wid)
            view = ErasedView(act.transit)
            for ev in events:
                ev.payloads[:] = [await view.mark(p) for p in ev.payloads]
            return events

    with _known_order(order_id):
        events = asyncio.run(go())
    table = Table(title=f"decoded history of {wid} (as {identities.ORDER_CLIENT.name})")
    table.add_column("event", justify="right")
    table.add_column("type")
    table.add_column("payloads (decoded)", overflow="fold")
    for ev in events:
        table.add_row(str(ev.event_id), ev.event_type, json.dumps(ev.payloads, default=str))
    out.print(table)


@order.command("status")
def order_status(order_id: OrderIdArg, output: OutputOpt = Output.text) -> None:
    """Show an order's step, outcome and compensations (the workflow's status query)."""

    async def go() -> Any:
        async with actas.temporal_client(_stack(), _paths()) as client:
            return await orders_client.status(client, order_id)

    with _known_order(order_id):
        st = asyncio.run(go())
    if output is Output.json:
        out.print_json(st.model_dump_json())
        return
    table = Table(title=f"order {st.order_id}")
    table.add_column("field")
    table.add_column("value")
    for key, value in st.model_dump(mode="json").items():
        if key == "approvals":
            value = [
                f"{a['approver']} {a['decision']} (key v{a['key_version']}, {a['accepted_at']})"
                for a in value
            ]
        table.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
    out.print(table)


@order.command("approve")
def order_approve(
    order_id: OrderIdArg,
    as_: Annotated[str, typer.Option("--as", help="Approver name (dev stack: userpass user).")],
    reject: Annotated[bool, typer.Option("--reject", help="Sign a rejection instead.")] = False,
    signal: Annotated[
        bool, typer.Option("--signal", help="Send as fire-and-forget signal (not the Update).")
    ] = False,
) -> None:
    """Sign an approval of ORDER_ID as an approver (their own Vault key) and send it."""
    from orders.devstack import people as dev_people
    from orders.vault.people import PersonLoginError

    stack, paths = _stack(), _paths()

    async def go() -> Any:
        async with actas.temporal_client(stack, paths) as client:
            return await orders_client.approve(
                client,
                order_id,
                approver=as_,
                password=dev_people.dev_password(paths, as_),
                vault_addr=stack.vault_addr,
                verify=stack.verify,
                decision="reject" if reject else "approve",
                via_signal=signal,
            )

    try:
        with _known_order(order_id):
            accepted = asyncio.run(go())
    except (orders_client.ApprovalRefusedError, PersonLoginError, ValueError) as exc:
        err.print(f"[red]Refused: {exc}[/red]")
        raise typer.Exit(2) from None
    if accepted is None:
        out.print("Signal sent; see `orders order status` (rejected_signals counts refusals).")
    else:
        out.print(
            f"Accepted: {accepted.approver} {accepted.decision.value} "
            f"(key v{accepted.key_version}) at {accepted.accepted_at}"
        )
