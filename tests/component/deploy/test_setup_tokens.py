"""The setup steps' scoped tokens and the root token's end, on a real OpenBao.

``unseal`` hands each later step an orphan token carrying only that step's policy
(``vault/setup/setup-<step>.hcl``) and revokes the root token: the root token is refused
afterwards, each step token does its step and is refused everything else.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import hvac
import pytest

from orders.contract import pki_names
from orders.deploy import setup
from orders.deploy.setup_tokens import METRICS, STEP_TOKEN_TTL, Step, generate_root, hand_over
from orders.security import certs
from orders.vault import tokens as vault_tokens
from orders.vault.pki import apply_internode_pki, apply_pki

Tokens = dict[Step | str, str]


def _as(openbao: hvac.Client, token: str) -> hvac.Client:
    return hvac.Client(url=openbao.url, token=token, timeout=30)


@pytest.fixture
def handed_over(openbao: hvac.Client, tmp_path: Path) -> tuple[str, str, Tokens]:
    """Unsealed and handed over: (the revoked initial root token, unseal key, step tokens)."""
    store = setup.DirectoryStore(tmp_path / "keys")
    _, root_token = setup.init_and_unseal(openbao, store)
    assert root_token
    key = (store.load() or {})[setup.UNSEAL_KEY]
    tokens: Tokens = {}
    hand_over(
        openbao,
        root_token=root_token,
        unseal_key=key,
        sinks={step: functools.partial(tokens.__setitem__, step) for step in (*Step, METRICS)},
    )
    return root_token, key, tokens


def test_the_root_token_is_refused_after_the_hand_over(
    openbao: hvac.Client, handed_over: tuple[str, str, Tokens]
) -> None:
    root_token, key, tokens = handed_over
    with pytest.raises(hvac.exceptions.Forbidden):
        _as(openbao, root_token).auth.token.lookup_self()
    # An operator (or the next `unseal` run) regenerates a root token with the unseal key.
    fresh = _as(openbao, generate_root(openbao, key))
    assert fresh.auth.token.lookup_self()["data"]["policies"] == ["root"]
    # Each step token: its own policy only, orphan, not renewable, at most an hour.
    for step, token in tokens.items():
        if step == METRICS:
            continue  # checked below (one OpenBao for both: each start costs seconds)
        assert isinstance(step, Step)
        info = fresh.auth.token.lookup(token)["data"]
        assert info["policies"] == [step.policy], step
        assert info["orphan"] is True
        assert info["renewable"] is False
        assert 0 < info["ttl"] <= STEP_TOKEN_TTL
    fresh.auth.token.revoke_self()
    _check_metrics_token(openbao, tokens[METRICS])


def test_the_pki_token_does_pki_and_nothing_else(
    openbao: hvac.Client, handed_over: tuple[str, str, Tokens]
) -> None:
    pki = _as(openbao, handed_over[2][Step.PKI])
    apply_pki(pki, 3600)
    apply_internode_pki(pki)
    assert certs.issue(pki, pki_names.PKI_SERVER_ROLE, pki_names.Server.POSTGRES.value).serial
    refused: list[Callable[[], object]] = [
        lambda: pki.sys.create_or_update_policy("mine", 'path "*" { capabilities = ["sudo"] }'),
        lambda: pki.sys.enable_secrets_engine("transit"),
        lambda: pki.sys.enable_auth_method("userpass"),
        lambda: pki.write_data("auth/token/create", data={"policies": ["setup-pki"]}),
        lambda: pki.sys.list_auth_methods(),
    ]
    for attempt in refused:
        with pytest.raises(hvac.exceptions.Forbidden):
            attempt()
    pki.auth.token.revoke_self()
    with pytest.raises(hvac.exceptions.Forbidden):
        certs.issue(pki, pki_names.PKI_SERVER_ROLE, pki_names.Server.POSTGRES.value)


def test_the_temporal_admin_steps_tokens_mint_the_admin_jwt_and_nothing_else(
    openbao: hvac.Client, handed_over: tuple[str, str, Tokens]
) -> None:
    root = _as(openbao, generate_root(openbao, handed_over[1]))
    apply_pki(root, 3600)  # what the pki and configure steps did before
    vault_tokens.apply_temporal_tokens(root, 300)
    root.auth.token.revoke_self()
    # The namespace and promote steps: one OpenBao for both (each start costs seconds).
    for step in (Step.NAMESPACE, Step.PROMOTE):
        _check_admin_step_token(_as(openbao, handed_over[2][step]))


def _check_admin_step_token(ns: hvac.Client) -> None:
    """The token mints the admin JWT and certificate, and is refused anything else."""
    assert vault_tokens.mint_admin_token(ns, False).count(".") == 2  # a JWT
    assert certs.issue_temporal_admin(ns).serial
    refused: list[Callable[[], object]] = [
        lambda: certs.issue(ns, pki_names.PKI_SERVER_ROLE, pki_names.Server.POSTGRES.value),
        lambda: ns.write_data("auth/token/create", data={}),
        lambda: ns.write_data(
            f"auth/token/create/{vault_tokens.ADMIN_ROLE}", data={"policies": ["setup-configure"]}
        ),
        lambda: ns.sys.create_or_update_policy("mine", 'path "*" { capabilities = ["sudo"] }'),
        lambda: ns.read(f"identity/oidc/token/{vault_tokens.ADMIN_ROLE}"),
    ]
    for attempt in refused:
        with pytest.raises((hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest)):
            attempt()


def test_the_configure_token_cannot_make_tokens_or_touch_the_seal(
    openbao: hvac.Client, handed_over: tuple[str, str, Tokens]
) -> None:
    conf = _as(openbao, handed_over[2][Step.CONFIGURE])
    conf.sys.create_or_update_policy(
        "probe", 'path "transit/encrypt/x" { capabilities = ["update"] }'
    )
    conf.sys.enable_secrets_engine("transit", path="transit")
    refused: list[Callable[[], object]] = [
        lambda: conf.write_data("auth/token/create", data={"policies": ["probe"]}),
        lambda: conf.write_data("auth/token/create-orphan", data={}),
        lambda: conf.sys.enable_secrets_engine("kv", path="kv"),
        lambda: conf.sys.enable_audit_device("file", path="f", options={"file_path": "stdout"}),
        lambda: conf.sys.seal(),
        lambda: conf.read("sys/raw/core"),
    ]
    for attempt in refused:
        with pytest.raises((hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest)):
            attempt()


def _check_metrics_token(openbao: hvac.Client, token: str) -> None:
    """Prometheus's token (compose, kind): ``sys/metrics`` only, no default policy."""
    metrics = _as(openbao, token)
    # This throwaway server has no `telemetry` stanza, so the JSON format (always served).
    assert metrics.read("sys/metrics")["Gauges"]
    refused: list[Callable[[], object]] = [
        lambda: metrics.auth.token.lookup_self(),  # not even `default`'s self-lookup
        lambda: metrics.sys.list_policies(),
        lambda: metrics.write_data("auth/token/create", data={}),
        lambda: metrics.sys.read_policy("default"),
        lambda: metrics.read("sys/mounts"),
    ]
    for attempt in refused:
        with pytest.raises(hvac.exceptions.Forbidden):
            attempt()
