"""``orders keys``: the Transit key lifecycle, an operator's task (rotate, rewrap, retire)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from orders.cli import _stack, out

keys = typer.Typer(no_args_is_help=True, help="Transit key lifecycle (an operator's task).")


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
    from orders.vault import keys as key_ops

    for name, version in key_ops.rotate(_admin_vault(token_file), key).items():
        out.print(f"{name}: latest version {version}")


@keys.command("rewrap")
def keys_rewrap(
    history: Annotated[Path, typer.Argument(help="History JSON (temporal workflow show -o json).")],
    output: Annotated[Path, typer.Option(help="Where to write the rewrapped history.")],
    token_file: TokenFileOpt = None,
) -> None:
    """Rewrap the data keys of an exported history under the newest key version."""
    from orders.vault import keys as key_ops

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
    from orders.vault import keys as key_ops

    key_ops.set_min_decryption_version(_admin_vault(token_file), key, version)
    out.print(f"{key}: min_decryption_version = {version}")
