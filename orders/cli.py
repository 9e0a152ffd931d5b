"""The ``orders`` command line: the local stack, orders, and the demo."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.console import Console
from rich.table import Table

from orders import client as orders_client
from orders import identities
from orders import logging as olog
from orders.devstack import actas, control
from orders.devstack.state import StackInfo, StackPaths, Status

# Tracebacks must never print local variables: they can hold tokens and PII.
app = typer.Typer(
    no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_show_locals=False
)
dev = typer.Typer(no_args_is_help=True, help="The local stack (real servers from wheels).")
order = typer.Typer(no_args_is_help=True, help="Place and inspect orders.")
vault = typer.Typer(no_args_is_help=True, help="Vault (OpenBao) configuration as code.")
app.add_typer(dev, name="dev")
app.add_typer(order, name="order")
app.add_typer(vault, name="vault")
keys = typer.Typer(no_args_is_help=True, help="Transit key lifecycle (an operator's task).")
app.add_typer(keys, name="keys")
# Off a terminal (make, CI, pipes) Rich would cut evidence at 80 columns.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


@app.callback()
def _main(
    log_level: Annotated[str, typer.Option(help="Log level (logs go to stderr).")] = "warning",
) -> None:
    """Hardened order processing: local stack, orders, Vault configuration, demo."""
    # stdout is for results (``--output json``); structured logs go to stderr.
    olog.configure(identities.ORDER_CLIENT.name, log_level)


def _paths() -> StackPaths:
    return StackPaths.default()


def _stack() -> StackInfo:
    try:
        return StackInfo.load(_paths())
    except FileNotFoundError:
        err.print("[red]The stack is not running: start it with `orders dev up`.[/red]")
        raise typer.Exit(3) from None


def _status_table(status: Status) -> Table:
    table = Table(title=f"stack: {status.state} ({status.detail})")
    table.add_column("process")
    table.add_column("pid", justify="right")
    table.add_column("restarts", justify="right")
    for name, pid in sorted(status.processes.items()):
        table.add_row(name, str(pid), str(status.restarts.get(name, 0)))
    return table


@dev.command("up")
def dev_up(
    db_ttl: Annotated[int, typer.Option(help="Default TTL of database credentials (s).")] = 60,
    db_max_ttl: Annotated[int, typer.Option(help="Max TTL of database credentials (s).")] = 300,
    token_ttl: Annotated[int, typer.Option(help="TTL of worker Vault tokens (s).")] = 120,
    token_max_ttl: Annotated[int, typer.Option(help="Max TTL of worker Vault tokens (s).")] = 420,
    cert_ttl: Annotated[int, typer.Option(help="TTL of identities' client certs (s).")] = 3600,
) -> None:
    """Start the stack in the background; return when every part is healthy."""
    try:
        status = control.up(
            _paths(),
            control.UpOptions(
                db_ttl=db_ttl, db_max_ttl=db_max_ttl, token_ttl=token_ttl,
                token_max_ttl=token_max_ttl, cert_ttl=cert_ttl,
            ),
        )  # fmt: skip
    except control.StackError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    out.print(_status_table(status))
    info = StackInfo.load(_paths())
    out.print(f"Temporal UI: {info.ui_url}   stack file: {_paths().stack_json}")
    if info.codec_server_url:
        out.print(f"Codec server sign-in (to decode in the UI): {info.codec_server_url}/login")


@dev.command("down")
def dev_down() -> None:
    """Stop everything, revoke every lease, and check no dynamic role is left."""
    try:
        status = control.down(_paths())
    except control.StackError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    if status is None:
        out.print("No stack was running.")
        return
    leftover = status.report.get("leftover_dynamic_roles")
    out.print(f"Stack {status.state}. Revocations: {_revocations(status.report)}.")
    if leftover is not None:
        out.print(f"Dynamic Postgres roles left after shutdown: {len(leftover)}")
        if leftover:
            err.print(f"[red]leftover roles: {leftover}[/red]")
            raise typer.Exit(1)


def _revocations(report: dict[str, Any]) -> str:
    parts = [f"{k.split(':', 1)[1]} {v}" for k, v in report.items() if k.startswith("revoked:")]
    return ", ".join(parts) or "none needed"


@dev.command("status")
def dev_status() -> None:
    """Show the stack's processes and health."""
    paths = _paths()
    status = Status.load(paths)
    running = control.supervisor_process(paths) is not None
    if status is None or not running:
        out.print("The stack is not running.")
        raise typer.Exit(3)
    out.print(_status_table(status))
    out.print(_cert_table(paths))
    out.print_json(StackInfo.load(paths).model_dump_json(exclude={"postgres_admin_dsn"}))


def _cert_table(paths: StackPaths) -> Table:
    """Every certificate of the stack (servers, root CA, workers' client certs): expiry."""
    from orders.security import certs

    table = Table(title="certificates (Vault PKI)")
    for column in ("certificate", "subject", "serial", "not after (UTC)", "time left"):
        table.add_column(column)
    for name, path in paths.certificates().items():
        try:
            summary = certs.summarize(name, path.read_bytes())
        except (OSError, ValueError) as exc:
            table.add_row(name, f"unreadable: {type(exc).__name__}", "", "", "")
            continue
        table.add_row(
            name,
            summary.subject,
            summary.serial,
            summary.not_after.strftime("%Y-%m-%d %H:%M:%S"),
            summary.time_left(),
        )
    return table


@dev.command("server")
def dev_server(
    action: Annotated[str, typer.Argument(help="stop, start or restart.")],
    name: Annotated[str, typer.Argument(help="openbao or postgres.")],
) -> None:
    """Stop, start or restart OpenBao or Postgres through the supervisor (data is kept).

    A stopped server stays down until ``start``; OpenBao comes back unsealed. Workers ride
    the outage out with retries (see ``orders dev status`` and their logs).
    """
    try:
        answer = control.server(_paths(), action, name)
    except control.StackError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    out.print(f"{name}: {action} done (pid {answer.get('pid')})")


def _place(order_req: Any, output: str) -> None:
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
    if output == "json":
        out.print_json(json.dumps({"workflow_id": wid, "order_id": order_req.order_id}))
    else:
        out.print(f"Order {order_req.order_id} placed: workflow {wid}")


@order.command("place")
def order_place(
    customer_id: Annotated[str | None, typer.Option(help="Customer id.")] = None,
    email: Annotated[str | None, typer.Option(help="Customer e-mail (PII).")] = None,
    address: Annotated[str | None, typer.Option(help="Shipping address (PII).")] = None,
    payment_ref: Annotated[str | None, typer.Option(help="Payment reference.")] = None,
    currency: Annotated[str, typer.Option(help="ISO currency.")] = "EUR",
    item: Annotated[list[str] | None, typer.Option(help="SKU:QUANTITY (repeatable).")] = None,
    order_id: Annotated[str | None, typer.Option(help="Order id (default: a new UUID).")] = None,
    json_file: Annotated[Path | None, typer.Option("--json", help="Order as a JSON file.")] = None,
    output: Annotated[str, typer.Option(help="text or json.")] = "text",
) -> None:
    """Validate an order and start its workflow. Invalid orders are refused, naming the field."""
    try:
        if json_file is not None:
            order_req = orders_client.order_from_json(json_file)
        else:
            data: dict[str, Any] = {
                "customer_id": customer_id,
                "customer_email": email,
                "shipping_address": address,
                "payment_reference": payment_ref,
                "currency": currency,
                "items": orders_client.parse_items(item or []),
            }
            if order_id:
                data["order_id"] = order_id
            order_req = orders_client.parse_order({k: v for k, v in data.items() if v is not None})
    except orders_client.InvalidOrderError as exc:
        err.print("[red]Order refused; nothing was started or written.[/red]")
        for field, msg in exc.problems:
            err.print(f"  {field}: {msg}")
        raise typer.Exit(2) from None
    _place(order_req, output)


@order.command("show")
def order_show(
    order_id: Annotated[str, typer.Argument(help="Order id or workflow id.")],
) -> None:
    """Print the order's history decoded with the client identity's key.

    Need-to-know fields stay sealed here: only their consuming activity can open them.
    """
    from orders import evidence
    from orders.models import workflow_id_for

    wid = order_id if order_id.startswith("order-") else workflow_id_for(order_id)

    async def go() -> list[evidence.DecodedEvent]:
        async with actas.temporal_client(_stack(), _paths()) as client:
            return await evidence.decoded_history(client, wid)

    table = Table(title=f"decoded history of {wid} (as {identities.ORDER_CLIENT.name})")
    table.add_column("event", justify="right")
    table.add_column("type")
    table.add_column("payloads (decoded)", overflow="fold")
    for ev in asyncio.run(go()):
        table.add_row(str(ev.event_id), ev.event_type, json.dumps(ev.payloads, default=str))
    out.print(table)


@order.command("status")
def order_status(
    order_id: Annotated[str, typer.Argument(help="Order id or workflow id.")],
    output: Annotated[str, typer.Option(help="text or json.")] = "text",
) -> None:
    """Show an order's step, outcome and compensations (the workflow's status query)."""

    async def go() -> Any:
        async with actas.temporal_client(_stack(), _paths()) as client:
            return await orders_client.status(client, order_id)

    st = asyncio.run(go())
    if output == "json":
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
    order_id: Annotated[str, typer.Argument(help="Order id or workflow id.")],
    as_: Annotated[str, typer.Option("--as", help="Approver name (dev stack: userpass user).")],
    reject: Annotated[bool, typer.Option("--reject", help="Sign a rejection instead.")] = False,
    signal: Annotated[
        bool, typer.Option("--signal", help="Send as fire-and-forget signal (not the Update).")
    ] = False,
) -> None:
    """Sign an approval of ORDER_ID as an approver (their own Vault key) and send it."""
    from orders import vault_approvers
    from orders.vault_people import PersonLoginError

    stack, paths = _stack(), _paths()

    async def go() -> Any:
        async with actas.temporal_client(stack, paths) as client:
            return await orders_client.approve(
                client,
                order_id,
                approver=as_,
                password=vault_approvers.dev_password(paths, as_),
                vault_addr=stack.vault_addr,
                verify=stack.verify,
                decision="reject" if reject else "approve",
                via_signal=signal,
            )

    try:
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


@vault.command("apply")
def vault_apply(
    vault_addr: Annotated[str, typer.Option(envvar="VAULT_ADDR", help="Vault address.")],
    token_file: Annotated[Path, typer.Option(help="File with a token allowed to configure.")],
    kubernetes_host: Annotated[str, typer.Option(help="Kubernetes API URL as Vault reaches it.")],
    kubernetes_ca_file: Annotated[Path, typer.Option(help="PEM CA of the Kubernetes API.")],
    db_url: Annotated[
        str, typer.Option(help="postgresql://{{username}}:{{password}}@host:port/db?sslmode=…")
    ],
    db_admin_password_file: Annotated[Path, typer.Option(help="Initial Vault DB admin password.")],
    db_admin_user: Annotated[str, typer.Option(help="Postgres role Vault uses.")] = (
        identities.VAULT_DB_ADMIN_ROLE
    ),
    db_ttl: Annotated[int, typer.Option(help="Default TTL of database credentials (s).")] = 60,
    db_max_ttl: Annotated[int, typer.Option(help="Max TTL of database credentials (s).")] = 300,
    token_ttl: Annotated[int, typer.Option(help="TTL of worker Vault tokens (s).")] = 120,
    token_max_ttl: Annotated[int, typer.Option(help="Max TTL of worker Vault tokens (s).")] = 420,
    rotate_root: Annotated[bool, typer.Option(help="Rotate the DB admin password.")] = True,
    vault_cacert: Annotated[
        Path | None, typer.Option(envvar="VAULT_CACERT", help="CA that signed Vault's cert.")
    ] = None,
    cert_ttl: Annotated[int, typer.Option(help="TTL of identities' client certs (s).")] = 3600,
) -> None:
    """Apply vault/ (policies, Kubernetes auth, database roles) to any Vault; idempotent."""
    import hvac

    from orders.security.trust import ca_verify
    from orders.vault_config import ApplyConfig, Ttls, apply

    client = hvac.Client(
        url=vault_addr, token=token_file.read_text().strip(), verify=ca_verify(vault_cacert)
    )
    written = apply(
        client,
        ApplyConfig(
            kubernetes_host=kubernetes_host,
            kubernetes_ca_pem=kubernetes_ca_file.read_text(),
            db_connection_url=db_url,
            db_admin_username=db_admin_user,
            db_admin_password=db_admin_password_file.read_text().strip(),
            ttls=Ttls(
                db_default=db_ttl,
                db_max=db_max_ttl,
                token=token_ttl,
                token_max=token_max_ttl,
                cert=cert_ttl,
            ),
            rotate_db_root=rotate_root,
        ),
    )
    for path in written:
        out.print(path)


def _admin_vault(token_file: Path | None) -> Any:
    """An operator's Vault client: the given token, or the dev stack's root token."""
    import hvac

    info = _stack()
    token = token_file.read_text().strip() if token_file else info.root_token()
    return hvac.Client(url=info.vault_addr, token=token, verify=info.verify)


TokenFileOpt = Annotated[
    Path | None, typer.Option(help="Operator token file (default: the dev stack's root token).")
]


@keys.command("rotate")
def keys_rotate(
    key: Annotated[list[str] | None, typer.Option(help="Key to rotate (default: all).")] = None,
    token_file: TokenFileOpt = None,
) -> None:
    """Rotate the Transit keys; new payloads and sealed fields use the new version."""
    from orders import keys as key_ops

    for name, version in key_ops.rotate(_admin_vault(token_file), key).items():
        out.print(f"{name}: latest version {version}")


@keys.command("rewrap")
def keys_rewrap(
    history: Annotated[Path, typer.Argument(help="History JSON (temporal workflow show -o json).")],
    output: Annotated[Path, typer.Option(help="Where to write the rewrapped history.")],
    token_file: TokenFileOpt = None,
) -> None:
    """Rewrap the data keys of an exported history under the newest key version."""
    from orders import keys as key_ops

    data = key_ops.load(str(history))
    counts = key_ops.rewrap_history(_admin_vault(token_file), data)
    output.write_text(json.dumps(data))
    out.print(
        f"{counts['encrypted']} encrypted payloads, {counts['rewrapped_keys']} data keys "
        f"rewrapped; versions now {sorted(key_ops.history_key_versions(data))}"
    )


@keys.command("min-version")
def keys_min_version(
    key: Annotated[str, typer.Argument(help="Transit key name.")],
    version: Annotated[int, typer.Argument(help="Oldest version that may still decrypt.")],
    token_file: TokenFileOpt = None,
) -> None:
    """Raise (or lower) the oldest key version allowed to decrypt."""
    from orders import keys as key_ops

    key_ops.set_min_decryption_version(_admin_vault(token_file), key, version)
    out.print(f"{key}: min_decryption_version = {version}")


@app.command("codec-server")
def codec_server_cmd(
    host: Annotated[str | None, typer.Option(help="Listen address (ORDERS_CODEC_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (ORDERS_CODEC_PORT).")] = None,
) -> None:
    """Serve /decode for the Temporal UI and CLIs, as identity codec-server (ORDERS_* env)."""
    from orders.codec_server.server import main as serve_codec

    raise typer.Exit(serve_codec(host, port))


LOGIN_AUDIENCES: Final = ("codec-server", "temporal")
"""Where a token from ``orders login`` is accepted (each place refuses the other's)."""


@app.command("login")
def login_cmd(
    user: Annotated[
        str | None,
        typer.Option("--user", help="Log in without a browser as this person (dev users)."),
    ] = None,
    password_file: Annotated[
        Path | None, typer.Option(help="File with the password (default: the dev stack's).")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the browser.")] = 300,
    audience: Annotated[
        str,
        typer.Option(
            "--for",
            help="Where the token is accepted: codec-server, or temporal (the front's persons' "
            "port). Each refuses the other's.",
        ),
    ] = "codec-server",
) -> None:
    """Log in at OpenBao's OIDC provider and print an ID token for the codec server.

    The authorization code flow with PKCE; the code comes back to a one-shot server on
    127.0.0.1 (no device flow). Without --user your browser opens OpenBao's login page;
    with --user (dev stack) the CLI plays the browser with the person's password.
    With --for temporal the token is for Temporal instead (client ``temporal-cli``).
    """
    import webbrowser

    from orders import oidc, vault_people

    if audience not in LOGIN_AUDIENCES:
        err.print(f"[red]--for must be one of {', '.join(LOGIN_AUDIENCES)}, not {audience!r}[/red]")
        raise typer.Exit(2)
    info = _stack()
    client_id = info.codec_client_id if audience == "codec-server" else info.temporal_client_id
    if not info.oidc_issuer or not client_id:
        err.print("[red]This stack has no OIDC provider; restart it with `orders dev up`.[/red]")
        raise typer.Exit(3)
    opener: oidc.Opener
    if user is not None:
        try:
            if password_file is not None:
                password = password_file.read_text().strip()
            else:
                password = vault_people.dev_password(_paths(), user)
        except vault_people.PersonLoginError as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
        opener = oidc.acting_browser(info.vault_addr, user, password, verify=info.verify)
    else:

        async def open_browser(url: str) -> None:
            err.print(f"Log in in your browser (opening it now):\n{url}")
            webbrowser.open(url)

        opener = open_browser
    try:
        token = asyncio.run(
            oidc.loopback_login(
                info.oidc_issuer, client_id, opener, timeout=timeout, verify=info.verify
            )
        )
    except oidc.AuthorizationDeniedError as exc:
        err.print(f"[red]Refused by OpenBao: {exc}[/red]")
        raise typer.Exit(4) from None
    except (vault_people.PersonLoginError, TimeoutError) as exc:
        err.print(f"[red]Login failed: {exc or 'timed out'}[/red]")
        raise typer.Exit(1) from None
    # Plain print: Rich would wrap the token at the console width.
    print(token)


@app.command("demo")
def demo() -> None:
    """Run the demo scenarios against the running stack and print the evidence."""
    from orders.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(_stack(), _paths(), out)))


def _register_scaffold() -> None:
    """``orders new``, ``orders workflow`` and ``orders dev apply|worker`` (orders.scaffold)."""
    from orders.scaffold import cli as scaffold_cli

    app.add_typer(scaffold_cli.new, name="new")
    app.add_typer(scaffold_cli.workflow, name="workflow")
    dev.command("apply")(scaffold_cli.dev_apply)
    dev.command("worker")(scaffold_cli.dev_worker)


_register_scaffold()
