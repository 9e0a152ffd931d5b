"""The OIDC client code names no provider path beyond the issuer: discovery gives the rest.

An AST scan of the codec server, ``orders/oidc.py`` and ``orders login``: no string spells
an endpoint path (token, authorize, keys, OpenBao's UI route), and nothing calls a helper
that builds one. ``authorize_as_person`` is exempt: it plays OpenBao's *UI* for dev users
(what a browser would do at the provider), not the client.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from orders.devstack.state import PROJECT_ROOT

CLIENT_SOURCES = [
    *sorted((PROJECT_ROOT / "orders" / "codec_server").glob("*.py")),
    PROJECT_ROOT / "orders" / "oidc.py",
]
PLAYS_THE_PROVIDER_UI = {"authorize_as_person"}
FORBIDDEN_TEXT = ("/token", "/authorize", "/.well-known/keys", "/ui/vault", "/v1/identity")
FORBIDDEN_NAMES = {"jwks_url_for", "token_url_for", "authorize_url_for", "authorize_api_for"}


def spelled(tree: ast.AST) -> list[str]:
    """Endpoint paths and URL helpers used in ``tree``, outside the exempt functions."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef) and (
            node.name in PLAYS_THE_PROVIDER_UI
        ):
            return
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.extend(t for t in FORBIDDEN_TEXT if t in node.value)
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_NAMES:
            found.append(node.attr)
        if isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            found.append(node.id)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


@pytest.mark.parametrize("path", CLIENT_SOURCES, ids=lambda p: p.name)
def test_client_code_spells_no_provider_path(path: Path) -> None:
    assert spelled(ast.parse(path.read_text())) == []


def test_orders_login_spells_no_provider_path() -> None:
    tree = ast.parse((PROJECT_ROOT / "orders" / "cli.py").read_text())
    [login] = [
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "login_cmd"
    ]
    assert spelled(login) == []


def test_the_scan_finds_what_it_looks_for() -> None:
    """A hand-built URL, or a helper building one, is caught (the test can fail)."""
    caught = spelled(ast.parse('url = f"{issuer}/token"\nvault_people.jwks_url_for(i)'))
    assert caught == ["/token", "jwks_url_for"]
    exempt = "async def authorize_as_person():\n    api = '/authorize'"
    assert spelled(ast.parse(exempt)) == []
