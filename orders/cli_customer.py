"""``orders customer …``: the right to erasure (a part of :mod:`orders.cli`).

``orders customer forget CUSTOMER_ID`` runs as the ``customer-eraser`` identity (its own
Vault login, policy, Postgres role and Temporal token), never as the client: see
:mod:`orders.erasure`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Final

import typer
from pydantic import TypeAdapter, ValidationError

from orders.cli import EXIT_BAD_INPUT, EXIT_FAILED, _paths, _stack, err, out
from orders.contract import identities
from orders.models import CustomerId

customer = typer.Typer(no_args_is_help=True, help="Customers: the right to erasure.")

_CUSTOMER_ID: Final = TypeAdapter(CustomerId)


@customer.command("forget")
def customer_forget(
    customer_id: Annotated[str, typer.Argument(help="The customer to erase.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Crypto-shred CUSTOMER_ID: destroy their key, so their sealed data never opens again.

    Refused (exit 1, nothing changed) while one of their orders is in flight.
    """
    from orders import erasure
    from orders.db.engine import create_engine
    from orders.devstack import actas

    try:
        _CUSTOMER_ID.validate_python(customer_id)
    except ValidationError:
        err.print("[red]customer id: not a customer id (1-64 of A-Z a-z 0-9 . _ -)[/red]")
        raise typer.Exit(EXIT_BAD_INPUT) from None

    async def go() -> erasure.Erasure:
        stack, paths = _stack(), _paths()
        async with actas.acting(stack, paths, identities.CUSTOMER_ERASER) as act:
            engine = create_engine(act.settings, act.session)
            try:
                return await erasure.forget(
                    client=act.client,
                    transit=act.transit,
                    engine=engine,
                    customer_id=customer_id,
                )
            finally:
                await engine.dispose()

    try:
        done = asyncio.run(go())
    except erasure.OrdersInFlightError as exc:
        err.print(
            f"[red]Refused; nothing was changed: {len(exc.order_ids)} order(s) of this "
            f"customer in flight: {', '.join(exc.order_ids)}. Forget them once they "
            "finished.[/red]"
        )
        raise typer.Exit(EXIT_FAILED) from None
    if as_json:
        out.print_json(json.dumps(done.__dict__))
        return
    what = "destroyed" if done.key_destroyed else "none found (nothing sealed under one)"
    out.print(
        f"Customer {done.customer_tag} (tag) erased: key material {what}; "
        f"{done.orders} order(s), {done.rows} database value(s) and {done.histories} "
        "workflow history(ies) can no longer be opened. Recorded in erasures."
    )
