"""The local Kubernetes identity endpoint, in process (no sockets, no TLS)."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import structlog
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from kubernetes import client as k8s

from orders.contract import identities
from orders.devstack import identity_endpoint as ie
from orders.devstack.identity_endpoint import (
    IdentityState,
    InvalidTokenError,
    StateError,
    build_app,
    mint_token,
    service_account_uid,
    verify_token,
)

ISSUER = "https://127.0.0.1:6443"
NS = identities.K8S_NAMESPACE
SA = identities.ORDER_VALIDATE.service_account
OTHER_SA = identities.ORDER_NOTIFY.service_account
TOKEN_PATH = f"/api/v1/namespaces/{NS}/serviceaccounts/{SA}/token"
REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> IdentityState:
    return IdentityState.load_or_create(tmp_path_factory.mktemp("idp") / "state", ISSUER)


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> IdentityState:
    """Another issuer with the same URL but its own keys: an attacker's forgery kit."""
    return IdentityState.load_or_create(tmp_path_factory.mktemp("foreign") / "state", ISSUER)


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ISSUER)


@pytest.fixture
async def api(state: IdentityState) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(build_app(state)) as c:
        yield c


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _decode(state: IdentityState, token: str, audience: str | None = None) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token,
        state.public_key,
        algorithms=["RS256"],
        issuer=ISSUER,
        audience=audience,
        options={"verify_aud": audience is not None},
    )
    return claims


async def _request_token(
    api: httpx.AsyncClient, state: IdentityState, spec: dict[str, Any] | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest"}
    if spec is not None:
        body["spec"] = spec
    return await api.post(TOKEN_PATH, json=body, headers=_bearer(state.bootstrap[SA]))


async def _review(
    api: httpx.AsyncClient, bearer: str, token: str, audiences: list[str] | None = None
) -> httpx.Response:
    spec: dict[str, Any] = {"token": token}
    if audiences is not None:
        spec["audiences"] = audiences
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
    return await api.post(REVIEW_PATH, json=body, headers=_bearer(bearer))


# --------------------------------------------------------------------------- state


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_state_dir_layout_and_modes(state: IdentityState) -> None:
    root = state.state_dir
    assert _mode(root) == 0o700
    assert _mode(root / "clients") == 0o700
    for name in ("ca.crt", "ca.key", "server.crt", "server.key", "signing.key"):
        assert _mode(root / name) == 0o600, name
    for ident in identities.ALL:
        path = state.bootstrap_file(ident.service_account)
        assert _mode(path) == 0o600
        assert path.read_text().strip() == state.bootstrap[ident.service_account]
    assert set(state.bootstrap) == {i.service_account for i in identities.ALL}
    assert len(set(state.bootstrap.values())) == len(identities.ALL)


def test_state_is_reused_across_restarts(state: IdentityState) -> None:
    ca_before = state.ca_cert_file.read_bytes()
    cert_before = state.server_cert_file.read_bytes()
    again = IdentityState.load_or_create(state.state_dir, ISSUER)
    assert again.kid == state.kid
    assert dict(again.bootstrap) == dict(state.bootstrap)
    assert again.ca_cert_file.read_bytes() == ca_before
    assert again.server_cert_file.read_bytes() == cert_before
    assert mint_token(state, SA, ["vault"], 600)
    verify_token(again, mint_token(state, SA, ["vault"], 600), ["vault"])


def test_missing_server_cert_is_reissued_from_the_same_ca(tmp_path: Path) -> None:
    first = IdentityState.load_or_create(tmp_path / "s", ISSUER)
    ca = first.ca_cert_file.read_bytes()
    first.server_cert_file.unlink()
    second = IdentityState.load_or_create(tmp_path / "s", ISSUER)
    assert second.ca_cert_file.read_bytes() == ca
    assert second.server_cert_file.exists()
    assert _mode(second.server_cert_file) == 0o600


def test_a_named_endpoint_certifies_its_name_and_keeps_its_ca(tmp_path: Path) -> None:
    """docker-compose's endpoint serves ``identity.orders.local``: its certificate says so."""
    from cryptography import x509

    name = "identity.orders.local"
    loopback = IdentityState.load_or_create(tmp_path / "s", ISSUER)
    ca = loopback.ca_cert_file.read_bytes()
    named = IdentityState.load_or_create(tmp_path / "s", f"https://{name}:8443", server_name=name)
    cert = x509.load_pem_x509_certificate(named.server_cert_file.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert name in sans.get_values_for_type(x509.DNSName)
    assert named.ca_cert_file.read_bytes() == ca  # re-issued from the same CA


def test_only_a_named_endpoint_binds_beyond_loopback() -> None:
    from orders.devstack.identity_endpoint import server

    anywhere = "0.0.0.0"  # noqa: S104 - what is being refused
    with pytest.raises(SystemExit):
        server._parse_args(["--state-dir", "x", "--host", anywhere])
    args = server._parse_args(
        ["--state-dir", "x", "--host", anywhere, "--server-name", "identity.orders.local"]
    )
    assert server.issuer_url(args.server_name, 8443) == "https://identity.orders.local:8443"
    assert server._parse_args(["--state-dir", "x"]).host == "127.0.0.1"


def test_mismatched_ca_is_refused_not_replaced(tmp_path: Path, foreign: IdentityState) -> None:
    IdentityState.load_or_create(tmp_path / "s", ISSUER)
    (tmp_path / "s" / "ca.key").write_bytes((foreign.state_dir / "ca.key").read_bytes())
    with pytest.raises(StateError, match="does not match"):
        IdentityState.load_or_create(tmp_path / "s", ISSUER)


def test_loosened_file_mode_is_tightened(tmp_path: Path) -> None:
    first = IdentityState.load_or_create(tmp_path / "s", ISSUER)
    key = first.state_dir / "signing.key"
    key.chmod(0o644)
    IdentityState.load_or_create(tmp_path / "s", ISSUER)
    assert _mode(key) == 0o600


def test_kid_is_the_rfc7638_thumbprint_of_the_jwk(state: IdentityState) -> None:
    (jwk,) = state.jwks()["keys"]
    canonical = json.dumps(
        {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    assert jwk["kid"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert state.kid == jwk["kid"]


def test_service_account_uid_is_stable_and_distinct() -> None:
    assert service_account_uid(SA) == service_account_uid(SA)
    assert service_account_uid(SA) != service_account_uid(OTHER_SA)
    assert service_account_uid(SA, "other") != service_account_uid(SA)


def test_credential_lookup(state: IdentityState) -> None:
    assert state.service_account_for_credential(state.bootstrap[SA]) == SA
    assert state.service_account_for_credential(state.bootstrap[SA] + "x") is None
    assert state.service_account_for_credential("") is None


# --------------------------------------------------------------------------- TokenRequest


async def test_token_request_returns_a_projected_token(
    api: httpx.AsyncClient, state: IdentityState
) -> None:
    resp = await _request_token(api, state, {"audiences": ["vault"], "expirationSeconds": 900})
    assert resp.status_code == 201
    body = resp.json()
    assert body["kind"] == "TokenRequest"
    assert body["apiVersion"] == "authentication.k8s.io/v1"
    assert body["metadata"]["name"] == SA
    assert body["metadata"]["namespace"] == NS
    assert body["spec"]["audiences"] == ["vault"]
    assert body["spec"]["expirationSeconds"] == 900

    token = body["status"]["token"]
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "kid": state.kid}
    claims = _decode(state, token, "vault")
    assert claims["iss"] == ISSUER
    assert claims["sub"] == f"system:serviceaccount:{NS}:{SA}"
    assert claims["aud"] == ["vault"]
    assert claims["exp"] - claims["iat"] == 900
    assert claims["nbf"] == claims["iat"]
    assert claims["jti"]
    assert claims["kubernetes.io"] == {
        "namespace": NS,
        "serviceaccount": {"name": SA, "uid": service_account_uid(SA)},
    }
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    assert body["status"]["expirationTimestamp"] == expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["metadata"]["creationTimestamp"].endswith("Z")


async def test_token_request_response_deserializes_with_the_kubernetes_client(
    api: httpx.AsyncClient, state: IdentityState
) -> None:
    resp = await _request_token(api, state, {"audiences": ["vault"]})
    parsed = k8s.AuthenticationV1TokenRequest.from_json(resp.text)
    assert parsed is not None
    assert parsed.status is not None
    assert parsed.spec is not None
    assert parsed.status.token == resp.json()["status"]["token"]
    assert parsed.status.expiration_timestamp is not None
    assert parsed.status.expiration_timestamp.tzinfo is not None
    assert parsed.spec.audiences == ["vault"]


async def test_token_request_defaults_like_kubernetes(
    api: httpx.AsyncClient, state: IdentityState
) -> None:
    resp = await _request_token(api, state)
    assert resp.status_code == 201
    claims = _decode(state, resp.json()["status"]["token"])
    assert claims["aud"] == list(ie.DEFAULT_API_AUDIENCES)
    assert claims["exp"] - claims["iat"] == ie.DEFAULT_EXPIRATION_SECONDS


async def test_token_lifetime_limits(state: IdentityState) -> None:
    async with _client(build_app(state, max_token_seconds=7200)) as api:
        long = await _request_token(api, state, {"expirationSeconds": 10**6})
        assert long.status_code == 201
        assert long.json()["spec"]["expirationSeconds"] == 7200
        short = await _request_token(api, state, {"expirationSeconds": 599})
        assert short.status_code == 422
        assert short.json()["reason"] == "Invalid"
    async with _client(build_app(state, min_token_seconds=10)) as api:
        ten = await _request_token(api, state, {"expirationSeconds": 10})
        assert ten.status_code == 201
        claims = _decode(state, ten.json()["status"]["token"])
        assert claims["exp"] - claims["iat"] == 10
    with pytest.raises(ValueError, match="at least"):
        build_app(state, min_token_seconds=9)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, 401),
        ({"Authorization": "Bearer not-a-credential"}, 401),
        ({"Authorization": "Basic Zm9vOmJhcg=="}, 401),
    ],
)
async def test_token_request_requires_a_bootstrap_credential(
    api: httpx.AsyncClient, headers: dict[str, str], code: int
) -> None:
    resp = await api.post(TOKEN_PATH, json={}, headers=headers)
    assert resp.status_code == code
    assert resp.json()["kind"] == "Status"
    assert resp.json()["reason"] == "Unauthorized"


async def test_token_request_with_another_service_accounts_credential_is_forbidden(
    api: httpx.AsyncClient, state: IdentityState
) -> None:
    resp = await api.post(TOKEN_PATH, json={}, headers=_bearer(state.bootstrap[OTHER_SA]))
    assert resp.status_code == 403
    assert resp.json()["reason"] == "Forbidden"


async def test_a_token_is_not_a_bootstrap_credential(
    api: httpx.AsyncClient, state: IdentityState
) -> None:
    token = mint_token(state, SA, ["vault"], 600)
    resp = await api.post(TOKEN_PATH, json={}, headers=_bearer(token))
    assert resp.status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/namespaces/{NS}/serviceaccounts/no-such-sa/token",
        f"/api/v1/namespaces/default/serviceaccounts/{SA}/token",
    ],
)
async def test_unknown_service_account_or_namespace_is_404(
    api: httpx.AsyncClient, state: IdentityState, path: str
) -> None:
    resp = await api.post(path, json={}, headers=_bearer(state.bootstrap[SA]))
    assert resp.status_code == 404
    body = resp.json()
    assert body["kind"] == "Status"
    assert body["reason"] == "NotFound"
    assert body["code"] == 404


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"{not json", 400),
        (b"[]", 400),
        (json.dumps({"kind": "TokenReview"}).encode(), 400),
        (json.dumps({"spec": {"audiences": "vault"}}).encode(), 422),
        (json.dumps({"spec": {"audiences": [""]}}).encode(), 422),
        (json.dumps({"spec": {"expirationSeconds": "600"}}).encode(), 422),
        (json.dumps({"spec": {"boundObjectRef": {"kind": "Pod", "name": "p"}}}).encode(), 422),
        (b"x" * (ie.MAX_BODY_BYTES + 1), 413),
    ],
)
async def test_token_request_rejects_bad_bodies(
    api: httpx.AsyncClient, state: IdentityState, content: bytes, code: int
) -> None:
    resp = await api.post(TOKEN_PATH, content=content, headers=_bearer(state.bootstrap[SA]))
    assert resp.status_code == code
    assert resp.json()["kind"] == "Status"


# --------------------------------------------------------------------------- TokenReview


async def test_token_review_authenticates_a_valid_token(
    api: httpx.AsyncClient, state: IdentityState
) -> None:
    token = mint_token(state, SA, ["vault"], 600)
    resp = await _review(api, token, token, ["vault"])
    assert resp.status_code == 201
    body = resp.json()
    assert body["kind"] == "TokenReview"
    assert body["apiVersion"] == "authentication.k8s.io/v1"
    status = body["status"]
    assert status["authenticated"] is True
    assert status["user"] == {
        "username": f"system:serviceaccount:{NS}:{SA}",
        "uid": service_account_uid(SA),
        "groups": [
            "system:serviceaccounts",
            f"system:serviceaccounts:{NS}",
            "system:authenticated",
        ],
    }
    assert status["audiences"] == ["vault"]
    assert status["user"]["uid"] == _decode(state, token)["kubernetes.io"]["serviceaccount"]["uid"]
    k8s.V1TokenReview.from_json(resp.text)


async def test_token_review_by_another_service_account(
    api: httpx.AsyncClient, state: IdentityState
) -> None:
    reviewer = mint_token(state, OTHER_SA, list(ie.DEFAULT_API_AUDIENCES), 600)
    token = mint_token(state, SA, ["vault", "other"], 600)
    resp = await _review(api, reviewer, token, ["vault"])
    assert resp.json()["status"]["authenticated"] is True
    assert resp.json()["status"]["audiences"] == ["vault"]


def _forge_with_our_kid(state: IdentityState, foreign: IdentityState) -> str:
    claims = _decode(state, mint_token(state, SA, ["vault"], 600))
    return jwt.encode(
        claims, foreign.signing_key, algorithm="RS256", headers={"kid": state.kid, "typ": None}
    )


@pytest.mark.parametrize("case", ["expired", "wrong_audience", "foreign_key", "foreign_kid"])
async def test_token_review_rejects_bad_tokens(
    api: httpx.AsyncClient, state: IdentityState, foreign: IdentityState, case: str
) -> None:
    reviewer = mint_token(state, OTHER_SA, list(ie.DEFAULT_API_AUDIENCES), 600)
    token = {
        "expired": lambda: mint_token(
            state, SA, ["vault"], 600, now=datetime.now(UTC) - timedelta(hours=1)
        ),
        "wrong_audience": lambda: mint_token(state, SA, ["not-vault"], 600),
        "foreign_key": lambda: _forge_with_our_kid(state, foreign),
        "foreign_kid": lambda: mint_token(foreign, SA, ["vault"], 600),
    }[case]()
    resp = await _review(api, reviewer, token, ["vault"])
    assert resp.status_code == 201
    status = resp.json()["status"]
    assert status["authenticated"] is False
    assert status["error"]
    assert "username" not in status.get("user", {})


async def test_token_review_without_audiences_uses_the_api_audiences(
    api: httpx.AsyncClient, state: IdentityState
) -> None:
    vault_token = mint_token(state, SA, ["vault"], 600)
    api_token = mint_token(state, SA, list(ie.DEFAULT_API_AUDIENCES), 600)
    assert (await _review(api, api_token, vault_token)).json()["status"]["authenticated"] is False
    ok = (await _review(api, api_token, api_token)).json()["status"]
    assert ok["authenticated"] is True
    assert ok["audiences"] == list(ie.DEFAULT_API_AUDIENCES)


async def test_token_review_requires_a_valid_bearer_from_this_issuer(
    api: httpx.AsyncClient, state: IdentityState, foreign: IdentityState
) -> None:
    token = mint_token(state, SA, ["vault"], 600)
    body = {"kind": "TokenReview", "spec": {"token": token, "audiences": ["vault"]}}
    assert (await api.post(REVIEW_PATH, json=body)).status_code == 401
    for bearer in (
        mint_token(foreign, SA, ["vault"], 600),
        _forge_with_our_kid(state, foreign),
        mint_token(state, SA, ["vault"], 600, now=datetime.now(UTC) - timedelta(hours=1)),
        state.bootstrap[SA],
    ):
        resp = await api.post(REVIEW_PATH, json=body, headers=_bearer(bearer))
        assert resp.status_code == 401
        assert resp.json()["reason"] == "Unauthorized"


async def test_token_review_requires_spec_token(
    api: httpx.AsyncClient, state: IdentityState
) -> None:
    bearer = mint_token(state, SA, ["vault"], 600)
    resp = await api.post(REVIEW_PATH, json={"spec": {}}, headers=_bearer(bearer))
    assert resp.status_code == 400


# --------------------------------------------------------------------------- verify_token


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param(
            {"kubernetes.io": {"namespace": NS, "serviceaccount": {"name": OTHER_SA, "uid": "x"}}},
            id="sub-vs-kubernetes.io",
        ),
        pytest.param(
            {"kubernetes.io": {"namespace": NS, "serviceaccount": {"name": SA, "uid": "x"}}},
            id="uid",
        ),
        pytest.param({"sub": f"system:serviceaccount:{NS}:ghost"}, id="unknown-sa"),
        pytest.param({"sub": "admin"}, id="not-a-service-account"),
        pytest.param({"iss": "https://elsewhere"}, id="issuer"),
    ],
)
def test_verify_token_checks_identity_claims(state: IdentityState, changes: dict[str, Any]) -> None:
    claims = _decode(state, mint_token(state, SA, ["vault"], 600))
    token = jwt.encode(
        {**claims, **changes},
        state.signing_key,
        algorithm="RS256",
        headers={"kid": state.kid, "typ": None},
    )
    with pytest.raises(InvalidTokenError):
        verify_token(state, token)


def test_verify_token_time_claims(state: IdentityState) -> None:
    now = datetime.now(UTC)
    token = mint_token(state, SA, ["vault"], 600, now=now)
    assert verify_token(state, token, ["vault"], now=now).service_account == SA
    with pytest.raises(InvalidTokenError, match="expired"):
        verify_token(state, token, now=now + timedelta(seconds=600))
    with pytest.raises(InvalidTokenError, match="not yet valid"):
        verify_token(state, token, now=now - timedelta(seconds=5))


def test_verify_token_rejects_other_algorithms(state: IdentityState) -> None:
    claims = _decode(state, mint_token(state, SA, ["vault"], 600))
    hs = jwt.encode(claims, "k" * 32, algorithm="HS256", headers={"kid": state.kid})
    with pytest.raises(InvalidTokenError, match="RS256"):
        verify_token(state, hs)
    with pytest.raises(InvalidTokenError, match="malformed"):
        verify_token(state, "not.a.jwt")


# --------------------------------------------------------------------------- OIDC, health


async def test_discovery_and_jwks_verify_a_minted_token(
    api: httpx.AsyncClient, state: IdentityState
) -> None:
    disco = (await api.get("/.well-known/openid-configuration")).json()
    assert disco == {
        "issuer": ISSUER,
        "jwks_uri": f"{ISSUER}/openid/v1/jwks",
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }
    jwks = (await api.get("/openid/v1/jwks")).json()
    (jwk,) = jwks["keys"]
    assert jwk["kid"] == state.kid
    assert jwk["use"] == "sig"
    assert jwk["alg"] == "RS256"
    key = RSAAlgorithm.from_jwk(jwk)
    assert isinstance(key, rsa.RSAPublicKey)
    token = mint_token(state, SA, ["vault"], 600)
    claims = jwt.decode(token, key, algorithms=["RS256"], audience="vault", issuer=ISSUER)
    assert claims["sub"] == f"system:serviceaccount:{NS}:{SA}"


async def test_health_endpoints(api: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz"):
        resp = await api.get(path)
        assert resp.status_code == 200
        assert resp.text == "ok"


async def test_logs_name_the_service_account_but_never_a_secret(
    api: httpx.AsyncClient, state: IdentityState
) -> None:
    with structlog.testing.capture_logs() as logs:
        resp = await _request_token(api, state, {"audiences": ["vault"]})
        token = resp.json()["status"]["token"]
        await _review(api, token, token, ["vault"])
        await _review(api, token, token + "x", ["vault"])
    requests = [e for e in logs if e["event"] == "request"]
    assert [(e["method"], e["status"]) for e in requests] == [
        ("POST", 201),
        ("POST", 201),
        ("POST", 201),
    ]
    assert requests[0]["service_account"] == SA
    assert requests[0]["path"] == TOKEN_PATH
    assert requests[2]["authenticated"] is False
    text = repr(logs)
    assert token not in text
    assert token.split(".")[2] not in text
    assert state.bootstrap[SA] not in text


async def test_service_account_created_after_start_is_served(tmp_path: Path) -> None:
    state = IdentityState.load_or_create(tmp_path / "state", ISSUER)
    new = "late-comer"
    path = f"/api/v1/namespaces/{NS}/serviceaccounts/{new}/token"
    async with _client(build_app(state)) as api:
        # Before the cluster admin creates it, the ServiceAccount does not exist.
        assert (await api.post(path, json={}, headers=_bearer("guess"))).status_code == 401
        credential = ie.create_service_account(tmp_path / "state", new).read_text().strip()
        assert _mode(tmp_path / "state" / "clients" / f"{new}.token") == 0o600
        resp = await api.post(path, json={}, headers=_bearer(credential))
        assert resp.status_code == 201
        token = resp.json()["status"]["token"]
        assert verify_token(state, token).service_account == new
        # Its credential creates tokens for itself only.
        other = f"/api/v1/namespaces/{NS}/serviceaccounts/{SA}/token"
        assert (await api.post(other, json={}, headers=_bearer(credential))).status_code == 403
    # Creating it again keeps the credential a worker may already hold.
    again = ie.create_service_account(tmp_path / "state", new).read_text().strip()
    assert again == credential


def test_token_of_a_service_account_that_was_never_created_is_refused(
    tmp_path: Path, state: IdentityState
) -> None:
    fresh = IdentityState.load_or_create(tmp_path / "s", ISSUER)
    token = mint_token(state, SA, ["vault"], 600)
    forged_claims = _decode(state, token)
    forged_claims["sub"] = f"system:serviceaccount:{NS}:ghost"
    forged_claims["kubernetes.io"]["serviceaccount"] = {
        "name": "ghost",
        "uid": service_account_uid("ghost"),
    }
    forged = jwt.encode(
        forged_claims, fresh.signing_key, algorithm="RS256", headers={"kid": fresh.kid}
    )
    with pytest.raises(InvalidTokenError, match="ghost does not exist"):
        verify_token(fresh, forged, ["vault"])
