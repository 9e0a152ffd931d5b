"""The ``orders`` command line: the local stack, orders, and the demo.

A mistake never ends in a traceback (it could print tokens or personal data): usage
errors (unknown command or option, a value outside its choices, a missing argument) and
failures (no stack, an unknown order, an unreadable file) print one or two lines on
stderr naming the thing, and exit non-zero.
"""

from __future__ import annotations

import asyncio
import enum
import sys
from pathlib import Path
from typing import Annotated, Any, Final, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from orders import logging as olog
from orders.contract import identities
from orders.devstack import control
from orders.devstack.state import StackInfo, StackPaths, Status

log = olog.get(__name__)

# Off a terminal (make, CI, pipes) Rich would cut evidence at 80 columns.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NO_STACK = 3


def _one_line(text: str, limit: int = 300) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says a server of the stack did not answer."""
    import httpx
    import requests

    from orders.security.vault import VaultUnavailableError

    transport = (ConnectionError, TimeoutError, httpx.TransportError, requests.ConnectionError)
    if isinstance(exc, (*transport, VaultUnavailableError)):
        return True
    # The Temporal SDK reports a refused connection as a RuntimeError.
    return isinstance(exc, RuntimeError) and "connect" in str(exc).lower()


def fail(exc: BaseException) -> int:
    """Print one or two lines for an error no command handled; returns the exit code."""
    import hvac.exceptions

    log.debug("cli.error", exc_info=exc)
    if _unreachable(exc):
        err.print(
            f"[red]The stack did not answer ({type(exc).__name__}): is it running? "
            "See `orders dev status`.[/red]"
        )
        return EXIT_NO_STACK
    if isinstance(exc, OSError) and exc.filename is not None:
        why = exc.strerror or type(exc).__name__
        err.print(f"[red]{escape(str(exc.filename))}: {escape(why)}[/red]")
        return EXIT_BAD_INPUT
    if isinstance(exc, hvac.exceptions.VaultError):
        err.print(f"[red]Vault refused: {escape(_one_line(str(exc)))}[/red]")
        return EXIT_FAILED
    err.print(f"[red]Failed: {type(exc).__name__}: {escape(_one_line(str(exc)))}[/red]")
    err.print("(run with --log-level debug for details)")
    return EXIT_FAILED


def _is_usage(exc: Exception) -> bool:
    """A Click exception (Typer may vendor Click: its classes are not ``click``'s)."""
    return callable(getattr(exc, "format_message", None)) and hasattr(exc, "exit_code")


def _usage_error(exc: Any) -> int:
    """Print a Click usage error in one line (help, when no command was given)."""
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError":
        # Typer renders rich help itself (on stdout) and returns "": print only plain help.
        text = ctx.get_help() if ctx else ""
        if text:
            err.print(text, markup=False, highlight=False)
    else:
        where = f"{ctx.command_path}: " if ctx is not None else ""
        err.print(f"[red]{escape(where + _one_line(exc.format_message()))}[/red] (see --help)")
    code: int = exc.exit_code
    return code


class OrdersApp(typer.Typer):
    """The ``orders`` app: run as a program, every mistake ends in one or two lines."""

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Run the command line (``args`` as Click's ``main``), then exit with its code."""
        kwargs.setdefault("prog_name", "orders")
        kwargs["standalone_mode"] = False
        command = typer.main.get_command(self)
        try:
            result = command.main(*args, **kwargs)
        except typer.Abort:
            err.print("Aborted.")
            sys.exit(EXIT_FAILED)
        except Exception as exc:  # the last resort: one or two lines, never a traceback
            sys.exit(_usage_error(exc) if _is_usage(exc) else fail(exc))
        sys.exit(result if isinstance(result, int) else 0)


app = OrdersApp(no_args_is_help=True, add_completion=False, help=__doc__)
dev = typer.Typer(no_args_is_help=True, help="The local stack (real servers from wheels).")
vault = typer.Typer(no_args_is_help=True, help="Vault (OpenBao) configuration as code.")
app.add_typer(dev, name="dev")
app.add_typer(vault, name="vault")


class LogLevel(enum.StrEnum):
    """Log levels the command line accepts."""

    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


@app.callback()
def _main(
    log_level: Annotated[LogLevel, typer.Option(help="Log level (logs go to stderr).")] = (
        LogLevel.warning
    ),
) -> None:
    """Hardened order processing: local stack, orders, Vault configuration, demo."""
    # stdout is for results (``--output json``); structured logs go to stderr.
    olog.configure(identities.ORDER_CLIENT.name, log_level.value)


def _paths() -> StackPaths:
    return StackPaths.default()


def _stack() -> StackInfo:
    """The running dev stack's endpoints, or exit 3 saying it is not running."""
    paths = _paths()
    try:
        if control.supervisor_process(paths) is not None:
            return StackInfo.load(paths)
    except FileNotFoundError:
        pass
    err.print("[red]The stack is not running: start it with `orders dev up`.[/red]")
    raise typer.Exit(EXIT_NO_STACK)


def _status_table(status: Status) -> Table:
    table = Table(title=f"stack: {status.state} ({status.detail})")
    table.add_column("process")
    table.add_column("pid", justify="right")
    table.add_column("restarts", justify="right")
    for name, pid in sorted(status.processes.items()):
        table.add_row(name, str(pid), str(status.restarts.get(name, 0)))
    return table


_UP = control.UpOptions()


@dev.command("up")
def dev_up(
    db_ttl: Annotated[int, typer.Option(help="Default TTL of database credentials (s).")] = (
        _UP.db_ttl
    ),
    db_max_ttl: Annotated[int, typer.Option(help="Max TTL of database credentials (s).")] = (
        _UP.db_max_ttl
    ),
    token_ttl: Annotated[int, typer.Option(help="TTL of worker Vault tokens (s).")] = (
        _UP.token_ttl
    ),
    token_max_ttl: Annotated[int, typer.Option(help="Max TTL of worker Vault tokens (s).")] = (
        _UP.token_max_ttl
    ),
    cert_ttl: Annotated[int, typer.Option(help="TTL of identities' client certs (s).")] = (
        _UP.cert_ttl
    ),
) -> None:
    """Start the stack in the background; return when every part is healthy."""
    try:
        status = control.up(
            _paths(),
            control.UpOptions(
                db_ttl=db_ttl, db_max_ttl=db_max_ttl, token_ttl=token_ttl,
                token_max_ttl=token_max_ttl, cert_ttl=cert_ttl,
            ),
            progress=lambda step: err.print(f"[dim]… {step}[/dim]"),
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
        err.print("The stack is not running.")
        raise typer.Exit(EXIT_NO_STACK)
    out.print(_status_table(status))
    out.print(_cert_table(paths))
    info = StackInfo.load(paths)
    _print_credentials(info.prometheus_url)
    out.print_json(info.model_dump_json(exclude={"postgres_admin_dsn"}))


def _print_credentials(prometheus_url: str | None) -> None:
    """Per-identity credential state from the stack's Prometheus, or one line why not."""
    from orders.devstack import credential_status

    for part in credential_status.report(prometheus_url):
        out.print(part)


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


class ServerAction(enum.StrEnum):
    """What ``orders dev server`` does."""

    stop = "stop"
    start = "start"
    restart = "restart"


class ServerName(enum.StrEnum):
    """Servers ``orders dev server`` controls."""

    openbao = "openbao"
    postgres = "postgres"


@dev.command("server")
def dev_server(
    action: Annotated[ServerAction, typer.Argument(help="What to do.")],
    name: Annotated[ServerName, typer.Argument(help="Which server.")],
) -> None:
    """Stop, start or restart OpenBao or Postgres through the supervisor (data is kept).

    A stopped server stays down until ``start``; OpenBao comes back unsealed. Workers ride
    the outage out with retries (see ``orders dev status`` and their logs).
    """
    _stack()  # one line and exit 3 when no stack runs
    try:
        answer = control.server(_paths(), action.value, name.value)
    except control.StackError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    out.print(f"{name}: {action} done (pid {answer.get('pid')})")


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
    from orders.vault.config import ApplyConfig, Ttls, apply

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


@vault.command("policy")
def vault_policy(
    names: Annotated[list[str] | None, typer.Argument(help="Identities (default: all).")] = None,
    rendered: Annotated[
        bool, typer.Option(help="Render from the contract instead (what `orders new` writes).")
    ] = False,
) -> None:
    """Print the Vault policies this install applies (vault/policies, shipped in the package)."""
    from orders.vault.policy import show

    try:
        sys.stdout.write(show(names or [], rendered=rendered))
    except (KeyError, FileNotFoundError) as exc:
        err.print(f"error: {exc.args[0]}", highlight=False)
        raise typer.Exit(2) from None


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

    The authorization code flow with PKCE, every endpoint from the provider's discovery
    document (``<issuer>/.well-known/openid-configuration``); the code comes back to a
    one-shot server on 127.0.0.1 (no device flow). Without --user your browser opens
    OpenBao's login page; with --user (dev stack) the CLI plays the browser with the
    person's password.
    With --for temporal the token is for Temporal instead (client ``temporal-cli``).
    """
    import webbrowser

    from orders import oidc
    from orders.devstack import people as dev_people
    from orders.vault import people as vault_people

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
                password = dev_people.dev_password(_paths(), user)
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
    except oidc.ProviderUnavailableError as exc:
        # Its discovery document or token endpoint: a clear line, not a traceback.
        err.print(f"[red]The OIDC provider is unavailable: {exc}[/red]")
        raise typer.Exit(3) from None
    # Plain print: Rich would wrap the token at the console width.
    print(token)


@app.command("demo")
def demo() -> None:
    """Run the demo scenarios against the running stack and print the evidence."""
    from orders.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(_stack(), _paths(), out)))


def _register_parts() -> None:
    """Add the command groups that live in modules of their own.

    ``orders keys``, ``order``, ``customer``, ``deploy``, ``verify``, and the scaffold's:
    ``orders new``, ``orders workflow`` and ``orders dev apply|worker``.
    """
    from orders import cli_customer, cli_deploy, cli_keys, cli_order, cli_verify
    from orders.scaffold import cli as scaffold_cli

    app.add_typer(cli_keys.keys, name="keys")
    app.add_typer(cli_order.order, name="order")
    app.add_typer(cli_customer.customer, name="customer")
    app.add_typer(cli_deploy.deploy, name="deploy")
    app.command("verify")(cli_verify.verify_cmd)
    app.add_typer(scaffold_cli.new, name="new")
    app.add_typer(scaffold_cli.workflow, name="workflow")
    dev.command("apply")(scaffold_cli.dev_apply)
    dev.command("worker")(scaffold_cli.dev_worker)


_register_parts()
