"""The HTTP API: TokenRequest, TokenReview, OIDC discovery and JWKS, health."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orders.devstack.identity_endpoint.errors import ApiError, InvalidTokenError, unauthorized
from orders.devstack.identity_endpoint.state import IdentityState
from orders.devstack.identity_endpoint.tokens import issue_token, verify_token

log = structlog.get_logger("orders.devstack.identity_endpoint")

DEFAULT_API_AUDIENCES: Final[tuple[str, ...]] = ("https://kubernetes.default.svc",)
"""Audiences of the "apiserver" itself: the default for TokenRequest and TokenReview."""

DEFAULT_EXPIRATION_SECONDS: Final = 3600
DEFAULT_MIN_TOKEN_SECONDS: Final = 600
"""Kubernetes refuses TokenRequests shorter than ten minutes."""
MIN_TOKEN_SECONDS_FLOOR: Final = 10
"""Lowest ``--min-token-seconds`` accepted, so tests can watch tokens expire."""
DEFAULT_MAX_TOKEN_SECONDS: Final = 86400
MAX_BODY_BYTES: Final = 64 * 1024
_LOG_FIELDS: Final = "orders.identity_endpoint.log"


async def _api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    _log_fields(request).setdefault("error", exc.message)
    return JSONResponse(exc.status_body(), status_code=exc.code)


def _log_fields(request: Request) -> dict[str, Any]:
    fields = request.scope.get(_LOG_FIELDS)
    if fields is None:
        fields = {}
        request.scope[_LOG_FIELDS] = fields
    assert isinstance(fields, dict)
    return fields


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


async def _read_object(request: Request, kind: str) -> dict[str, Any]:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, "RequestEntityTooLarge", "request body is too large")
    try:
        obj = json.loads(body) if body else {}
    except ValueError:
        raise ApiError(400, "BadRequest", "request body is not valid JSON") from None
    if not isinstance(obj, dict):
        raise ApiError(400, "BadRequest", f"request body must be a {kind} object")
    if obj.get("kind", kind) != kind:
        raise ApiError(400, "BadRequest", f"expected kind {kind}, got {obj.get('kind')!r}")
    api_version = obj.get("apiVersion", "authentication.k8s.io/v1")
    if api_version != "authentication.k8s.io/v1":
        raise ApiError(400, "BadRequest", f"unsupported apiVersion {api_version!r}")
    spec = obj.get("spec") or {}
    if not isinstance(spec, dict):
        raise ApiError(400, "BadRequest", "spec must be an object")
    return spec


def _audiences(spec: Mapping[str, Any], default: Sequence[str]) -> list[str]:
    value = spec.get("audiences")
    if value is None or value == []:
        return list(default)
    if not isinstance(value, list) or not all(isinstance(a, str) and a for a in value):
        raise ApiError(422, "Invalid", "spec.audiences must be a list of non-empty strings")
    return list(value)


def build_app(
    state: IdentityState,
    *,
    min_token_seconds: int = DEFAULT_MIN_TOKEN_SECONDS,
    max_token_seconds: int = DEFAULT_MAX_TOKEN_SECONDS,
    api_audiences: Sequence[str] = DEFAULT_API_AUDIENCES,
) -> Starlette:
    """Build the ASGI app of the identity endpoint.

    Args:
        state: Loaded endpoint state.
        min_token_seconds: Shortest TokenRequest accepted; shorter requests get 422, as
            in Kubernetes. At least :data:`MIN_TOKEN_SECONDS_FLOOR`.
        max_token_seconds: Longer requests are shortened to this, as the apiserver's
            ``--service-account-max-token-expiration`` does.
        api_audiences: The "apiserver" audiences: default audiences of TokenRequest and
            of TokenReview when the request names none.

    Returns:
        The Starlette application.

    Raises:
        ValueError: If the lifetime limits are out of range.
    """
    if min_token_seconds < MIN_TOKEN_SECONDS_FLOOR:
        raise ValueError(f"min_token_seconds must be at least {MIN_TOKEN_SECONDS_FLOOR}")
    if max_token_seconds < min_token_seconds:
        raise ValueError("max_token_seconds must not be below min_token_seconds")
    default_audiences = list(api_audiences)

    async def token_request(request: Request) -> Response:
        namespace = request.path_params["namespace"]
        name = request.path_params["name"]
        fields = _log_fields(request)
        fields["service_account"] = name

        credential = _bearer(request)
        caller = state.service_account_for_credential(credential) if credential else None
        if caller is None and credential and state.discover_service_accounts():
            caller = state.service_account_for_credential(credential)
        if caller is None:
            raise unauthorized()
        fields["caller"] = caller
        if namespace != state.namespace:
            raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found', name=namespace)
        if name not in state.bootstrap:
            raise ApiError(
                404,
                "NotFound",
                f'serviceaccounts "{name}" not found',
                name=name,
                kind="serviceaccounts",
            )
        if caller != name:
            raise ApiError(
                403,
                "Forbidden",
                f'serviceaccounts "{name}" is forbidden: credential of "{caller}" cannot '
                "create tokens for it",
                name=name,
                kind="serviceaccounts",
            )

        spec = await _read_object(request, "TokenRequest")
        audiences = _audiences(spec, default_audiences)
        seconds = spec.get("expirationSeconds")
        if seconds is None:
            seconds = DEFAULT_EXPIRATION_SECONDS
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            raise ApiError(422, "Invalid", "spec.expirationSeconds must be an integer")
        if seconds < min_token_seconds:
            raise ApiError(
                422,
                "Invalid",
                f"spec.expirationSeconds: may not specify a duration less than "
                f"{min_token_seconds} seconds",
            )
        seconds = min(seconds, max_token_seconds)
        if spec.get("boundObjectRef"):
            raise ApiError(422, "Invalid", "spec.boundObjectRef is not supported by this endpoint")

        issued = issue_token(state, name, audiences, seconds)
        fields["audiences"] = audiences
        fields["expiration_seconds"] = seconds
        created = issued.expires_at - timedelta(seconds=seconds)
        return JSONResponse(
            {
                "kind": "TokenRequest",
                "apiVersion": "authentication.k8s.io/v1",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "creationTimestamp": _rfc3339(created),
                },
                "spec": {
                    "audiences": audiences,
                    "expirationSeconds": seconds,
                    "boundObjectRef": None,
                },
                "status": {
                    "token": issued.token,
                    "expirationTimestamp": _rfc3339(issued.expires_at),
                },
            },
            status_code=201,
        )

    async def token_review(request: Request) -> Response:
        fields = _log_fields(request)
        bearer = _bearer(request)
        if bearer is None:
            raise unauthorized()
        try:
            reviewer = verify_token(state, bearer)
        except InvalidTokenError as exc:
            fields["error"] = f"reviewer: {exc}"
            raise unauthorized() from None
        fields["caller"] = reviewer.service_account

        spec = await _read_object(request, "TokenReview")
        token = spec.get("token")
        if not isinstance(token, str) or not token:
            raise ApiError(400, "BadRequest", "token is required for TokenReview")
        requested = _audiences(spec, default_audiences)
        echo_spec: dict[str, Any] = {"token": token}
        if spec.get("audiences"):
            echo_spec["audiences"] = requested

        status: dict[str, Any]
        try:
            who = verify_token(state, token, requested)
        except InvalidTokenError as exc:
            fields["authenticated"] = False
            fields["review_error"] = str(exc)
            status = {"authenticated": False, "error": str(exc), "user": {}}
        else:
            fields["authenticated"] = True
            fields["service_account"] = who.service_account
            status = {
                "authenticated": True,
                "user": {"username": who.username, "uid": who.uid, "groups": who.groups},
                # As the apiserver: the audiences both the request and the token accept.
                "audiences": [a for a in requested if a in who.audiences],
            }
        return JSONResponse(
            {
                "kind": "TokenReview",
                "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"creationTimestamp": None},
                "spec": echo_spec,
                "status": status,
            },
            status_code=201,
        )

    async def discovery(request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": state.issuer,
                "jwks_uri": f"{state.issuer}/openid/v1/jwks",
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def jwks(request: Request) -> Response:
        return JSONResponse(state.jwks(), media_type="application/jwk-set+json")

    async def ok(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route(
                "/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
                token_request,
                methods=["POST"],
            ),
            Route("/apis/authentication.k8s.io/v1/tokenreviews", token_review, methods=["POST"]),
            Route("/.well-known/openid-configuration", discovery, methods=["GET"]),
            Route("/openid/v1/jwks", jwks, methods=["GET"]),
            Route("/healthz", ok, methods=["GET"]),
            Route("/readyz", ok, methods=["GET"]),
        ],
        middleware=[Middleware(AccessLog)],
        exception_handlers={ApiError: _api_error_handler},
    )


class AccessLog:
    """ASGI middleware: one structured line per request, never a header or a body.

    Handlers add fields (ServiceAccount, caller, outcome) through a dict in the scope,
    because only they know which identity a request was about.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request and log it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fields: dict[str, Any] = {}
        scope[_LOG_FIELDS] = fields
        status = 500
        started = time.monotonic()

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            client = scope.get("client")
            event = log.warning if status >= 500 else log.info
            event(
                "request",
                method=scope.get("method"),
                path=scope.get("path"),
                status=status,
                duration_ms=round((time.monotonic() - started) * 1000, 1),
                client=client[0] if client else None,
                **fields,
            )
