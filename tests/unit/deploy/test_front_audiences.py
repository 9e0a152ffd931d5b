"""Compose's front checks one audience per token kind (#16), offline.

The Temporal server cannot check a JWT's audience (its ``default`` claim mapper takes one
only from a Go server option), so the front does (:mod:`orders.front.bearers`): the UI
principal may forward only the ``temporal-ui`` client's tokens, each identity only its own
machine token, verified against OpenBao's identity-token key set and issuer. These tests
read the committed compose file, and show that mutated copies are caught.
"""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Callable
from typing import Any

import pytest

from orders.deploy import common, compose_infra, front, people_auth, render
from orders.front.__main__ import parse_args
from orders.vault import tokens as vault_tokens

FILE_READ = re.compile(r'"\$\$\(cat ([^)]+)\)"')
"""``"$$(cat <file>)"`` in the front's ``sh -c`` script: a value read from a file."""


def _argv(compose: dict[str, Any]) -> list[str]:
    """The front's argv, with each value read from a file shown as ``file:<path>``."""
    script = str(compose["services"][front.NAME]["command"][-1])
    return shlex.split(FILE_READ.sub(r"file:\1", script.split("exec ", 1)[1]))


def _api_addr() -> str:
    found = re.search(
        r'^api_addr\s*=\s*"([^"]+)"', common.package_file(compose_infra.OPENBAO_HCL), re.MULTILINE
    )
    assert found, "compose's OpenBao config sets api_addr"
    return found.group(1)


def audience_violations(compose: dict[str, Any]) -> list[str]:
    """Every way compose's front would let one kind of token pass for another."""
    args = parse_args(_argv(compose)[3:])  # after "python -m orders.front"
    ui_id = f"file:{people_auth.OIDC_DIR}/{people_auth.UI_CLIENT_ID_FILE}"
    out = []
    if args.ui_audience != ui_id:
        out.append(f"the UI principal forwards tokens for {args.ui_audience!r}, not {ui_id!r}")
    if args.people_listen or args.people_audience:
        out.append("a persons' port without a persons' client in compose")
    jwks = args.machine_jwks_url or ""
    if not jwks.endswith(vault_tokens.JWKS_PATH):
        out.append(f"identities' bearers checked against {jwks!r}, not the identity-token keys")
    if args.machine_issuer != vault_tokens.issuer_for(_api_addr()):
        out.append(f"identities' tokens expected from {args.machine_issuer!r}")
    if args.people_issuer != compose_infra.COMPOSE_PEOPLE.issuer:
        out.append(f"persons' tokens expected from {args.people_issuer!r}")
    return out


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return render.load_compose()


def test_compose_front_checks_each_token_kinds_audience(compose: dict[str, Any]) -> None:
    assert audience_violations(compose) == []


def _replace(old: str, new: str) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        cmd = doc["services"][front.NAME]["command"]
        assert old in cmd[-1], old
        cmd[-1] = cmd[-1].replace(old, new)

    return mutate


MUTATIONS = {
    "UI principal takes the codec server's tokens": _replace(
        people_auth.UI_CLIENT_ID_FILE, people_auth.CODEC_CLIENT_ID_FILE
    ),
    "identities' bearers against the people's keys": _replace(
        f"{vault_tokens.JWKS_PATH} ", "/v1/identity/oidc/provider/orders/.well-known/keys "
    ),
    "identities' tokens from the people's issuer": _replace(
        f"{vault_tokens.ISSUER_PATH} ", "/v1/identity/oidc/provider/orders "
    ),
    "a persons' port taking the UI's tokens": _replace(
        "--ui-audience", "--people-listen 0.0.0.0:7234 --people-audience"
    ),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS), ids=list(MUTATIONS))
def test_a_mutated_compose_is_caught(compose: dict[str, Any], mutation: str) -> None:
    doc = copy.deepcopy(compose)
    MUTATIONS[mutation](doc)
    assert audience_violations(doc)
