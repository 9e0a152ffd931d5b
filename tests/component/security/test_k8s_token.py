"""TokenProjector against the real identity endpoint (subprocess, HTTPS on loopback)."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import structlog
import urllib3
from jwt.algorithms import RSAAlgorithm

from orders.contract import identities
from orders.devstack.identity_endpoint import IdentityState, service_account_uid
from orders.security.k8s_token import (
    ProjectedToken,
    TokenFileError,
    TokenProjector,
    read_token,
    write_token,
)
from orders.settings import WorkerSettings

SA = identities.ORDER_VALIDATE.service_account
OTHER_SA = identities.ORDER_NOTIFY.service_account
STARTUP_SECONDS = 8.0


@dataclass(frozen=True)
class Endpoint:
    state_dir: Path
    issuer: str
    ca_file: Path

    def client_token_file(self, service_account: str) -> Path:
        return self.state_dir / "clients" / f"{service_account}.token"

    def projector(self, token_file: Path, **kwargs: Any) -> TokenProjector:
        options: dict[str, Any] = {
            "host": self.issuer,
            "ca_file": self.ca_file,
            "client_token_file": self.client_token_file(SA),
            "service_account": SA,
            "token_file": token_file,
            **kwargs,
        }
        return TokenProjector(**options)


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    state_dir = tmp_path_factory.mktemp("idp") / "state"
    log_path = state_dir.parent / "endpoint.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orders.devstack.identity_endpoint",
                "--state-dir",
                str(state_dir),
                "--port",
                "0",
                "--min-token-seconds",
                "10",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        ready = state_dir / "ready"
        deadline = time.monotonic() + STARTUP_SECONDS
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"identity endpoint did not start:\n{log_path.read_text()}")
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        assert info["pid"] == proc.pid
        yield Endpoint(state_dir, info["issuer"], Path(info["ca_cert"]))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert not (state_dir / "ready").exists()


def _jwks_key(endpoint: Endpoint) -> Any:
    verify = ssl.create_default_context(cafile=str(endpoint.ca_file))
    with httpx.Client(base_url=endpoint.issuer, verify=verify, timeout=5) as http:
        jwks_uri = http.get("/.well-known/openid-configuration").json()["jwks_uri"]
        (jwk,) = http.get(jwks_uri).json()["keys"]
    return RSAAlgorithm.from_jwk(jwk)


@pytest.mark.timeout(60)
def test_refresh_writes_a_verifiable_token_file(endpoint: Endpoint, tmp_path: Path) -> None:
    token_file = tmp_path / "tokens" / "order-validate.jwt"
    projector = endpoint.projector(token_file, expiration_seconds=900)

    started = time.monotonic()
    result = projector.refresh()
    took = timedelta(seconds=time.monotonic() - started)

    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
    token = read_token(token_file)
    claims = jwt.decode(
        token,
        _jwks_key(endpoint),
        algorithms=["RS256"],
        audience=identities.VAULT_AUDIENCE,
        issuer=endpoint.issuer,
    )
    assert claims["aud"] == [identities.VAULT_AUDIENCE]
    assert claims["sub"] == f"system:serviceaccount:{identities.K8S_NAMESPACE}:{SA}"
    assert claims["kubernetes.io"]["serviceaccount"] == {"name": SA, "uid": service_account_uid(SA)}
    assert claims["exp"] - claims["iat"] == 900
    assert result == projector.last
    assert result.path == token_file
    assert result.expires_at == datetime.fromtimestamp(claims["exp"], UTC)
    # issued_at is taken before the request, so a slow round trip lengthens the lifetime.
    assert timedelta(seconds=899) <= result.lifetime <= timedelta(seconds=901) + took


@pytest.mark.timeout(60)
def test_refresh_replaces_the_file_atomically(endpoint: Endpoint, tmp_path: Path) -> None:
    token_file = tmp_path / "order-validate.jwt"
    projector = endpoint.projector(token_file)
    projector.refresh()
    first = read_token(token_file)
    projector.refresh()
    second = read_token(token_file)
    assert first != second
    assert os.listdir(tmp_path) == ["order-validate.jwt"]


@pytest.mark.timeout(60)
def test_refresh_with_another_service_accounts_credential_fails(
    endpoint: Endpoint, tmp_path: Path
) -> None:
    from kubernetes.client.exceptions import ApiException

    token_file = tmp_path / "t.jwt"
    projector = endpoint.projector(
        token_file, client_token_file=endpoint.client_token_file(OTHER_SA)
    )
    with pytest.raises(ApiException) as info:
        projector.refresh()
    assert info.value.status == 403
    assert not token_file.exists()


@pytest.mark.timeout(60)
def test_refresh_refuses_an_untrusted_server_certificate(
    endpoint: Endpoint, tmp_path: Path
) -> None:
    other = IdentityState.load_or_create(tmp_path / "other", "https://127.0.0.1:1")
    projector = endpoint.projector(tmp_path / "t.jwt", ca_file=other.ca_cert_file)
    with pytest.raises(urllib3.exceptions.MaxRetryError, match="CERTIFICATE_VERIFY_FAILED"):
        projector.refresh()


@pytest.mark.timeout(60)
async def test_run_refreshes_then_stops(endpoint: Endpoint, tmp_path: Path) -> None:
    token_file = tmp_path / "t.jwt"
    projector = endpoint.projector(token_file, expiration_seconds=600)
    stop = asyncio.Event()
    task = asyncio.create_task(projector.run(stop))
    while projector.last is None:
        assert not task.done()
        await asyncio.sleep(0.02)
    # The next refresh is due at 80 % of the lifetime, not now.
    refresh_in = (projector.last.refresh_at - projector.last.issued_at).total_seconds()
    assert refresh_in == pytest.approx(480, abs=2)
    stop.set()
    await asyncio.wait_for(task, timeout=15)
    assert read_token(token_file)


@pytest.mark.timeout(60)
async def test_run_refreshes_before_expiry(endpoint: Endpoint, tmp_path: Path) -> None:
    token_file = tmp_path / "t.jwt"
    projector = endpoint.projector(token_file, expiration_seconds=10)
    await asyncio.to_thread(projector.refresh)
    first = projector.last
    first_token = read_token(token_file)
    assert first is not None
    # Pretend the token was issued 9 s ago, so 80 % of its 10 s lifetime has passed.
    ago = timedelta(seconds=9)
    projector._last = ProjectedToken(first.path, first.issued_at - ago, first.expires_at - ago)
    stop = asyncio.Event()
    task = asyncio.create_task(projector.run(stop))
    while (last := projector.last) is None or last.issued_at <= first.issued_at:
        assert not task.done()
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, timeout=15)
    assert read_token(token_file) != first_token


@pytest.mark.timeout(60)
async def test_run_retries_with_backoff_and_never_logs_secrets(
    endpoint: Endpoint, tmp_path: Path
) -> None:
    credential = endpoint.client_token_file(OTHER_SA)
    projector = endpoint.projector(
        tmp_path / "t.jwt",
        client_token_file=credential,
        retry_initial_seconds=0.05,
        retry_max_seconds=0.1,
    )
    stop = asyncio.Event()
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(projector.run(stop))
        deadline = time.monotonic() + 5
        while sum(e["event"] == "k8s_token.refresh_failed" for e in logs) < 3:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, timeout=15)
    failures = [e for e in logs if e["event"] == "k8s_token.refresh_failed"]
    assert failures[0]["error"] == "ApiException 403 Forbidden"
    assert [e["failures"] for e in failures[:3]] == [1, 2, 3]
    assert all(e["log_level"] == "warning" for e in failures)
    assert read_token(credential) not in repr(logs)


# --------------------------------------------------------------------------- no server


def test_read_token_strips_whitespace(tmp_path: Path) -> None:
    path = tmp_path / "t"
    path.write_text("  abc.def.ghi\n")
    assert read_token(path) == "abc.def.ghi"


def test_read_token_missing_or_empty(tmp_path: Path) -> None:
    with pytest.raises(TokenFileError, match="does not exist"):
        read_token(tmp_path / "missing")
    (tmp_path / "empty").write_text(" \n")
    with pytest.raises(TokenFileError, match="is empty"):
        read_token(tmp_path / "empty")


def test_write_token_is_private_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "tok"
    path.write_text("old")
    path.chmod(0o644)
    write_token(path, "new")
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_from_settings(tmp_path: Path) -> None:
    settings = WorkerSettings(
        identity=SA,
        k8s_host="https://127.0.0.1:6443",
        k8s_ca_file=tmp_path / "ca.crt",
        k8s_client_token_file=tmp_path / "client.token",
        token_file=tmp_path / "vault-token",
        token_seconds=1200,
    )
    projector = TokenProjector.from_settings(settings, identities.ORDER_VALIDATE)
    assert projector.service_account == SA
    assert projector.audience == identities.VAULT_AUDIENCE
    assert projector.namespace == identities.K8S_NAMESPACE
    assert projector.token_file == tmp_path / "vault-token"
    assert projector.expiration_seconds == 1200
    with pytest.raises(ValueError, match="ORDERS_K8S_HOST"):
        TokenProjector.from_settings(WorkerSettings(identity=SA), identities.ORDER_VALIDATE)
