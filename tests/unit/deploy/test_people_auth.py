"""Temporal authorization and UI login in docker-compose agree with vault/ (offline).

Parses the committed docker-compose.yml (a fresh rendering equals it: test_render) and
checks that issuer, JWKS URL, audience source and claim names are the ones OpenBao's
provider (orders.vault.people) issues, and that every redirect URI the UI and the codec
server use is one the setup step registers. What only a Docker engine would show (the
images reading these variables, the login round trip) is listed in README.
"""

from __future__ import annotations

import re
import shlex
from typing import Any
from urllib.parse import urlsplit

from orders.contract import identities, temporal_access
from orders.deploy import common, compose_infra, front, people_auth
from orders.deploy.common import COMPOSE_FILE, ROOT
from orders.deploy.compose_infra import INFRA_FILE
from orders.settings import WorkerSettings
from orders.vault import people as vault_people
from orders.vault import tokens as vault_tokens
from tests.support.deploy import COMPOSE, SERVICES

ENDPOINT = re.compile(r"^https://[a-z0-9.-]+(:\d+)?$")


def env(service: str) -> dict[str, str]:
    environment: dict[str, str] = SERVICES[service]["environment"]
    return environment


def option(args: list[str], name: str) -> list[str]:
    """Every value of ``--name`` in an argument list."""
    return [args[i + 1] for i, a in enumerate(args) if a == name]


def setup_args() -> list[str]:
    command: list[str] = SERVICES["setup"]["command"]
    return command


def test_one_issuer_from_the_public_openbao_url() -> None:
    [base] = option(setup_args(), "--oidc-issuer-base")
    assert ENDPOINT.match(base)
    issuer = vault_people.issuer_for(base)
    assert issuer.endswith(f"/v1/identity/oidc/provider/{vault_people.PROVIDER}")
    ui, codec = env("temporal-ui"), env("codec-server")
    assert ui["TEMPORAL_AUTH_PROVIDER_URL"] == issuer
    assert ui["TEMPORAL_AUTH_ISSUER_URL"] == issuer
    assert codec["ORDERS_CODEC_ISSUER"] == issuer
    # OpenBao's UI (the provider's login page) is served, and browsers can reach it there.
    config = common.package_file(compose_infra.OPENBAO_HCL)
    assert re.search(r"^ui\s*=\s*true$", config, re.MULTILINE)
    # Browsers reach it through the ingress relay's published port (the host maps the name
    # to loopback); the UI server and the codec server reach the same URL on `vault`, where
    # the name is OpenBao's.
    host, port = urlsplit(base).hostname, urlsplit(base).port
    ingress = SERVICES["ingress"]
    assert f"127.0.0.1:{port}:{port}" in ingress["ports"]
    assert f"openbao:{port}" in option(ingress["command"], "--to")
    assert host in SERVICES["openbao"]["networks"]["vault"]["aliases"]
    for name in ("temporal-ui", "codec-server", "ingress"):
        assert "vault" in SERVICES[name]["networks"]


def test_temporal_server_authorization_reads_the_providers_jwks() -> None:
    server = env("temporal")
    assert server["TEMPORAL_AUTH_AUTHORIZER"] == "default"
    assert server["TEMPORAL_AUTH_CLAIM_MAPPER"] == "default"
    assert server["TEMPORAL_JWT_PERMISSIONS_CLAIM"] == vault_people.PERMISSIONS_CLAIM
    jwks = urlsplit(server["TEMPORAL_JWT_KEY_SOURCE1"])
    [base] = option(setup_args(), "--oidc-issuer-base")
    issuer_path = urlsplit(vault_people.issuer_for(base)).path
    # Same provider and path as the issuer; the host is the one Temporal reaches.
    assert jwks.path == urlsplit(vault_people.jwks_url_for(vault_people.issuer_for(base))).path
    assert jwks.path == f"{issuer_path}/.well-known/keys"
    # OpenBao's certificate name, its alias on its own network.
    assert jwks.scheme == "https"
    assert jwks.hostname in SERVICES["openbao"]["networks"]["vault"]["aliases"]
    # Temporal shares no network with OpenBao (nor any identity): on its own network that
    # name is the relay's, which forwards to OpenBao only.
    assert "vault" not in SERVICES["temporal"]["networks"]
    relay = SERVICES[front.RELAY]
    assert jwks.hostname in relay["networks"][front.TEMPORAL_NETWORK]["aliases"]
    assert relay["command"][-2:] == ["--to", f"openbao:{jwks.port}"]
    assert front.TEMPORAL_NETWORK in SERVICES["temporal"]["networks"]
    assert re.search(
        r'address\s*=\s*"0\.0\.0\.0:' + str(jwks.port) + '"',
        common.package_file(compose_infra.OPENBAO_HCL),
    )


def test_ui_login_uses_its_client_and_the_permissions_scope() -> None:
    ui = env("temporal-ui")
    assert ui["TEMPORAL_AUTH_ENABLED"] == "true"
    assert ui["TEMPORAL_AUTH_SCOPES"].split(",") == list(vault_people.REQUESTED_SCOPES)
    assert vault_people.PERMISSIONS_CLAIM in ui["TEMPORAL_AUTH_SCOPES"].split(",")
    # The access token is an opaque Vault token: the ID token carries the permissions.
    assert ui["TEMPORAL_AUTH_USE_ID_TOKEN_AS_BEARER"] == "true"
    # Callback registered on the temporal-ui client by the setup step.
    assert ui["TEMPORAL_AUTH_CALLBACK_URL"] in option(setup_args(), "--ui-redirect-uri")
    assert urlsplit(ui["TEMPORAL_AUTH_CALLBACK_URL"]).path == people_auth.UI_CALLBACK_PATH
    # Audience: the client id the setup step wrote for the UI, and its secret, from files.
    script = SERVICES["temporal-ui"]["entrypoint"][-1]
    [out_dir] = option(setup_args(), "--oidc-out-dir")
    assert f"cat {out_dir}/{people_auth.UI_CLIENT_ID_FILE}" in script
    [secret_dir] = option(setup_args(), "--ui-secret-dir")
    assert f"cat {secret_dir}/{people_auth.UI_CLIENT_SECRET_FILE}" in script
    assert "TEMPORAL_AUTH_CLIENT_ID=" in script
    assert "TEMPORAL_AUTH_CLIENT_SECRET=" in script
    mounted = {
        m["target"]
        for m in SERVICES["temporal-ui"]["volumes"]
        if isinstance(m, dict) and m["source"] == "oidc-clients"
    }
    # The id from the shared volume; the secret from a volume of its own (test_ui_secret.py).
    assert mounted == {f"{out_dir}/{people_auth.UI_CLIENT_ID_FILE}"}
    assert "TEMPORAL_AUTH_CLIENT_SECRET" not in ui  # never a literal in the file


def test_codec_server_audience_and_callback() -> None:
    codec = SERVICES["codec-server"]
    [out_dir] = option(setup_args(), "--oidc-out-dir")
    script = codec["command"][-1]
    assert f'ORDERS_CODEC_CLIENT_ID="$$(cat {out_dir}/{people_auth.CODEC_CLIENT_ID_FILE})"' in (
        script
    )
    words = shlex.split(script.split(" exec ", 1)[1])
    assert words[:2] == ["orders", "codec-server"]
    public = codec["environment"]["ORDERS_CODEC_PUBLIC_URL"]
    callback = public + vault_people.CODEC_CALLBACK_PATH
    assert callback in option(setup_args(), "--codec-redirect-uri")
    assert (
        codec["environment"]["ORDERS_CODEC_UI_ORIGIN"]
        == env("temporal-ui")["TEMPORAL_CORS_ORIGINS"]
    )


def test_no_client_secret_or_token_in_the_compose_file() -> None:
    text = (ROOT / COMPOSE_FILE).read_text() + (ROOT / INFRA_FILE).read_text()
    assert "hvo_secret_" not in text  # OpenBao's client-secret prefix
    assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.", text)  # no JWT


def _walk(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _walk(v)]
    if isinstance(value, list):
        return [s for v in value for s in _walk(v)]
    return [value] if isinstance(value, str) else []


def test_every_provider_url_in_compose_derives_from_the_issuer() -> None:
    [base] = option(setup_args(), "--oidc-issuer-base")
    issuer = vault_people.issuer_for(base)
    provider_path = urlsplit(issuer).path
    machine_jwks = env("temporal")["TEMPORAL_JWT_KEY_SOURCE2"]
    for text in _walk(COMPOSE["services"]):
        if "/identity/oidc/" in text and text != machine_jwks:
            assert provider_path in text, text


def test_temporal_server_also_verifies_the_identities_own_tokens() -> None:
    server = env("temporal")
    people = urlsplit(server["TEMPORAL_JWT_KEY_SOURCE1"])
    machines = urlsplit(server["TEMPORAL_JWT_KEY_SOURCE2"])
    # Same OpenBao, reached the same way; the path OpenBao serves its identity-token keys at.
    assert (machines.scheme, machines.netloc) == (people.scheme, people.netloc)
    assert machines.path == vault_tokens.JWKS_PATH
    assert server["TEMPORAL_JWT_KEY_SOURCE2"] == vault_tokens.jwks_url_for(
        f"{people.scheme}://{people.netloc}"
    )


def test_every_identity_calling_temporal_presents_its_own_token() -> None:
    """Each worker service sets the token setting; services that never call Temporal don't."""
    for ident in identities.ALL:
        if ident.name not in SERVICES:
            continue
        environment = env(ident.name)
        fields = {k.removeprefix("ORDERS_").lower(): v for k, v in environment.items()}
        settings = WorkerSettings.model_validate(
            {k: v for k, v in fields.items() if k in WorkerSettings.model_fields}
        )
        assert settings.temporal_token is bool(temporal_access.temporal_permissions(ident)), ident
    workers = {i.name for i in identities.workers()}
    assert workers <= set(SERVICES)
    for name in workers:
        assert env(name)["ORDERS_TEMPORAL_TOKEN"] == "true"
