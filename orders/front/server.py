"""The front as a gRPC server: grpcio's asyncio server with one generic handler.

Every call arrives as bytes and leaves as bytes: the front parses only the requests its
decision needs (:data:`orders.front.decide.PARSED`) with Temporal's own generated message
classes, and only two kinds of response (polls and workflow-task completions, whose task
tokens it binds to the poller). No HTTP/2 or protobuf is written by hand; grpcio does the
protocol, on both sides.

Callers are authenticated by the port they reach:

- the *identities' port* requires a client certificate chaining to the client CA (the
  Vault root CA): the principal is its CN, which Vault PKI lets only that identity obtain;
- the optional *people's port* takes no certificate and requires a person's bearer token
  from the OIDC provider for Temporal (verified like the codec server does, with the
  ``temporal-cli`` client's audience); the principal is the person, with the permissions
  the token carries.

A bearer on the identities' port must be the caller's own token (:mod:`orders.front.bearers`:
one audience per token kind), or the call is ``UNAUTHENTICATED``.

Refusals are ``PERMISSION_DENIED`` with a message naming the principal and the call, and a
structured ``front.denied`` security event in the log.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import grpc
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import WorkflowIdConflictPolicy, WorkflowIdReusePolicy
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsv1

from orders import logging as olog
from orders.codec_server.auth import KeysUnavailableError
from orders.contract import api
from orders.contract.temporal_access import TemporalAccess
from orders.front import decide, wire
from orders.front.bearers import Bearers, WrongBearerError
from orders.front.rules import Rules, RulesFile
from orders.front.tokens import TokenBinding
from orders.observability import metrics

log = olog.get(__name__)

_DROPPED_METADATA: Final = frozenset({"user-agent", "content-type", "te", "host"})
"""Connection-level metadata grpcio sets itself on the upstream call."""
ROLE_ORDER: Final = ("admin", "write", "read")
"""A person's strongest role in the namespace decides their access (each implies the next)."""
RELOAD_CHECK_SECONDS: Final = 5.0


@dataclass(frozen=True)
class Caller:
    """An authenticated caller.

    Attributes:
        name: Principal name: an identity's (certificate CN) or ``person:<username>``.
        access: What it may do.
        label: What the front records as who placed a workflow (``identity:…``/``person:…``).
    """

    name: str
    access: TemporalAccess
    label: str


@dataclass(frozen=True)
class TlsFiles:
    """A certificate, its key and the CA bundle for the other side.

    Attributes:
        cert: PEM certificate chain file.
        key: PEM private key file.
        ca: PEM CA bundle the peer's certificate must chain to.
    """

    cert: Path
    key: Path
    ca: Path

    def stamp(self) -> tuple[float, ...]:
        """Modification times: a change means rotated files."""
        return tuple(p.stat().st_mtime for p in (self.cert, self.key, self.ca))

    def read(self) -> tuple[bytes, bytes, bytes]:
        """(certificate chain, key, CA) bytes."""
        return self.cert.read_bytes(), self.key.read_bytes(), self.ca.read_bytes()


class Upstream:
    """The channel to the real frontend, rebuilt when its client certificate rotates."""

    def __init__(self, target: str, server_name: str, files: TlsFiles) -> None:
        self._target, self._server_name, self._files = target, server_name, files
        self._stamp: tuple[float, ...] = ()
        self._checked = 0.0
        self._channel: grpc.aio.Channel | None = None
        self._old: list[grpc.aio.Channel] = []
        self._calls: dict[str, Any] = {}

    def _ensure(self) -> None:
        now = time.monotonic()
        if self._channel is not None and now - self._checked < RELOAD_CHECK_SECONDS:
            return
        self._checked = now
        stamp = self._files.stamp()
        if stamp == self._stamp and self._channel is not None:
            return
        cert, key, ca = self._files.read()
        creds = grpc.ssl_channel_credentials(
            root_certificates=ca, private_key=key, certificate_chain=cert
        )
        options = [
            ("grpc.ssl_target_name_override", self._server_name),
            ("grpc.max_receive_message_length", 128 * 1024 * 1024),
            ("grpc.max_send_message_length", 128 * 1024 * 1024),
            ("grpc.keepalive_time_ms", 30_000),
        ]
        if self._channel is not None:
            # In-flight long polls finish on the old channel; it is closed on shutdown.
            self._old.append(self._channel)
        self._channel = grpc.aio.secure_channel(self._target, creds, options=options)
        self._calls = {}
        self._stamp = stamp
        log.info("front.upstream.channel", target=self._target)

    def method(self, path: str) -> Any:
        """A bytes-in, bytes-out callable for ``path``."""
        self._ensure()
        call = self._calls.get(path)
        if call is None:
            assert self._channel is not None
            call = self._calls[path] = self._channel.unary_unary(path)
        return call

    async def close(self) -> None:
        """Close every channel."""
        for channel in [*self._old, *([self._channel] if self._channel else [])]:
            await channel.close()


def _metadata(context: grpc.aio.ServicerContext[Any, Any]) -> list[tuple[str, str | bytes]]:
    out: list[tuple[str, str | bytes]] = []
    for item in context.invocation_metadata() or ():
        key, value = item[0], item[1]
        if key.startswith((":", "grpc-")) or key in _DROPPED_METADATA:
            continue
        out.append((key, value))
    return out


def _bearer(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    for item in context.invocation_metadata() or ():
        if item[0] == "authorization" and isinstance(item[1], str):
            scheme, _, token = item[1].partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
    return ""


class Front:
    """Authenticates, decides, forwards.

    Args:
        rules: The rules in force (re-read when their file changes).
        upstream: The channel to the frontend.
        tokens: Binds task tokens to pollers.
        bearers: Which bearer each caller may present (default: no persons, identities'
            bearers unchecked).
    """

    def __init__(
        self,
        rules: RulesFile,
        upstream: Upstream,
        tokens: TokenBinding,
        bearers: Bearers | None = None,
    ) -> None:
        self._rules, self.upstream, self.tokens = rules, upstream, tokens
        self.bearers = bearers or Bearers()

    @property
    def rules(self) -> Rules:
        """The rules in force now."""
        return self._rules.current()

    async def identity_caller(self, context: grpc.aio.ServicerContext[Any, Any]) -> Caller | None:
        """The identity named by the verified client certificate, if its bearer is its own."""
        names = list(context.auth_context().get("x509_common_name") or ())
        if len(names) != 1:
            return None
        name = names[0].decode(errors="replace")
        try:
            await self.bearers.check_forwarded(name, _bearer(context))
        except WrongBearerError as exc:
            log.warning("front.bearer_refused", principal=name, reason=str(exc)[:120])
            return None
        except KeysUnavailableError:
            # Not the caller's fault: a retryable answer, so workers keep going.
            log.warning("front.keys_unavailable", principal=name)
            await context.abort(grpc.StatusCode.UNAVAILABLE, "token keys unavailable")
        # A certificate the client CA vouches for, of a principal the rules do not list
        # (codec-server, order-migrate): known, and allowed nothing but the harmless calls.
        access = self.rules.principals.get(name, TemporalAccess())
        return Caller(name=name, access=access, label=f"identity:{name}")

    async def person_caller(self, context: grpc.aio.ServicerContext[Any, Any]) -> Caller | None:
        """The person named by a valid bearer token, with their strongest role's access."""
        token = _bearer(context)
        if not token:
            return None
        try:
            person = await self.bearers.person(token)
        except (WrongBearerError, KeysUnavailableError) as exc:
            log.warning("front.person_refused", reason=str(exc)[:120])
            return None
        roles = {role for ns, role in person.permissions if ns == self.rules.namespace}
        for role in ROLE_ORDER:
            if role in roles and role in self.rules.people:
                name = f"person:{person.username}"
                return Caller(name=name, access=self.rules.people[role], label=name)
        return None

    async def _refuse(
        self, context: grpc.aio.ServicerContext[Any, Any], who: str, method: str, reason: str
    ) -> None:
        log.warning("front.denied", principal=who, call=method, reason=reason)
        metrics.front_denied(who, method)
        await context.abort(
            grpc.StatusCode.PERMISSION_DENIED, f"{who} may not call {method}: {reason}"
        )

    async def handle(
        self, path: str, request: bytes, context: grpc.aio.ServicerContext[Any, Any], people: bool
    ) -> bytes:
        """Authenticate the caller, decide, and forward the call (or refuse it)."""
        caller = await (self.person_caller(context) if people else self.identity_caller(context))
        method = path.rsplit("/", 1)[-1]
        if caller is None:
            log.warning("front.unauthenticated", call=method, port="people" if people else "mtls")
            metrics.front_denied(None, method)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"{method}: caller not known")
            raise AssertionError("abort raises")
        if path == decide.HEALTH_CHECK:
            return await self._forward(path, request, context)
        service = path[1:].rsplit("/", 1)[0]
        if service == decide.WORKFLOW_SERVICE and method in decide.TOKEN_METHODS:
            return await self._answer_task(path, method, request, context, caller)
        message: Any = None
        if service == decide.WORKFLOW_SERVICE and method in decide.PARSED:
            message = getattr(wsv1, method + "Request")()
            try:
                message.ParseFromString(request)
            except Exception:  # any malformed request is refused, never crashes the front
                await self._refuse(context, caller.name, method, "malformed request")
        verdict = decide.decide(caller.access, self.rules.namespace, method, message)
        if not verdict.allowed:
            await self._refuse(context, caller.name, method, verdict.reason)
        if method == "StartWorkflowExecution":
            request = self._complete_start(message, caller)
        response = await self._forward(path, request, context)
        if method in ("PollWorkflowTaskQueue", "PollActivityTaskQueue"):
            return self._bind_poll(method, response, caller.name)
        return response

    async def _answer_task(
        self,
        path: str,
        method: str,
        request: bytes,
        context: grpc.aio.ServicerContext[Any, Any],
        caller: Caller,
    ) -> bytes:
        """A task answered (or heartbeated) only by the principal that polled it."""
        verdict = decide.decide(caller.access, self.rules.namespace, method, _TOKEN_ONLY)
        if not verdict.allowed:
            await self._refuse(context, caller.name, method, verdict.reason)
        wrapped = wire.leading_token(request)
        if wrapped is None:
            message: Any = getattr(wsv1, method + "Request")()
            try:
                message.ParseFromString(request)
            except Exception:  # malformed: refused, never crashes the front
                await self._refuse(context, caller.name, method, "malformed request")
            wrapped = message.task_token
        original = self.tokens.unwrap(caller.name, wrapped)
        if original is None:
            await self._refuse(context, caller.name, method, "a task it did not poll")
            raise AssertionError("abort raises")
        response = await self._forward(path, wire.with_token(request, original), context)
        if method == "RespondWorkflowTaskCompleted" and response:
            return self._bind_completion(response, caller.name)
        return response

    def _complete_start(self, message: Any, caller: Caller) -> bytes:
        """An order id is used once; who placed it is what the front authenticated."""
        message.workflow_id_reuse_policy = (
            WorkflowIdReusePolicy.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
        )
        message.workflow_id_conflict_policy = (
            WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_FAIL
        )
        message.request_eager_execution = False
        message.header.fields[api.PLACED_BY_HEADER].CopyFrom(
            Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(caller.label).encode())
        )
        data: bytes = message.SerializeToString()
        return data

    def _bind_poll(self, method: str, response: bytes, principal: str) -> bytes:
        token = wire.leading_token(response)
        if token is not None:
            return wire.with_token(response, self.tokens.wrap(principal, token))
        message: Any = getattr(wsv1, method + "Response")()
        message.ParseFromString(response)
        if not message.task_token:
            return response  # the long poll ended without a task
        message.task_token = self.tokens.wrap(principal, message.task_token)
        data: bytes = message.SerializeToString()
        return data

    def _bind_completion(self, response: bytes, principal: str) -> bytes:
        message = wsv1.RespondWorkflowTaskCompletedResponse()
        message.ParseFromString(response)
        if not message.workflow_task.task_token and not message.activity_tasks:
            return response
        if message.workflow_task.task_token:
            token = message.workflow_task.task_token
            message.workflow_task.task_token = self.tokens.wrap(principal, token)
        for task in message.activity_tasks:
            task.task_token = self.tokens.wrap(principal, task.task_token)
        return message.SerializeToString()

    async def _forward(
        self, path: str, request: bytes, context: grpc.aio.ServicerContext[Any, Any]
    ) -> bytes:
        remaining = context.time_remaining()
        try:
            response: bytes = await self.upstream.method(path)(
                request, timeout=remaining, metadata=_metadata(context)
            )
        except grpc.aio.AioRpcError as err:
            # Temporal's error details (e.g. "already started") travel in the trailers.
            trailers = tuple(err.trailing_metadata() or ())
            await context.abort(err.code(), err.details() or "", trailers)
            raise AssertionError("abort raises") from None
        return response


class _TokenOnly:
    """What the decision sees of a task answer: no namespace to check (the token has one)."""

    namespace = ""


_TOKEN_ONLY: Final = _TokenOnly()


class _Handler(grpc.GenericRpcHandler):
    def __init__(self, front: Front, people: bool) -> None:
        self._front, self._people = front, people
        # One handler per method the front knows (a bounded set), made once: grpcio asks
        # for it on every call. Unknown paths get a fresh one, never a cache entry.
        self._known: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def _make(self, path: str) -> grpc.RpcMethodHandler[Any, Any]:
        front, people = self._front, self._people

        async def call(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
            return await front.handle(path, request, context, people)

        return grpc.unary_unary_rpc_method_handler(call)

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        path: str = handler_call_details.method
        made = self._known.get(path)
        if made is not None:
            return made
        made = self._make(path)
        service, _, method = path[1:].rpartition("/")
        if path == decide.HEALTH_CHECK or (
            service == decide.WORKFLOW_SERVICE and method in decide.PARSED
        ):
            self._known[path] = made
        return made


def server_credentials(files: TlsFiles, require_client_cert: bool) -> grpc.ServerCredentials:
    """TLS for a listening port, re-reading the certificate when its files change."""
    stamp = [files.stamp()]

    def config() -> Any:
        cert, key, ca = files.read()
        return grpc.ssl_server_certificate_configuration(
            [(key, cert)], root_certificates=ca if require_client_cert else None
        )

    def fetch() -> Any:
        current = files.stamp()
        if current == stamp[0]:
            return None
        stamp[0] = current
        log.info("front.server_cert.reloaded")
        return config()

    return grpc.dynamic_ssl_server_credentials(
        config(), fetch, require_client_authentication=require_client_cert
    )


def health_app(front: Front) -> Starlette:
    """``GET /healthz``: 200 when the frontend answers ``GetSystemInfo`` through the front.

    ``GET /metrics``: the front's refusals (:data:`orders.observability.names.FRONT_DENIED`).

    Plain HTTP for the orchestrator's probes (kubelet, compose healthchecks); it says
    nothing but up or down.
    """

    async def healthz(_: StarletteRequest) -> PlainTextResponse:
        call = front.upstream.method(f"/{decide.WORKFLOW_SERVICE}/GetSystemInfo")
        try:
            await call(wsv1.GetSystemInfoRequest().SerializeToString(), timeout=3)
        except grpc.aio.AioRpcError:
            return PlainTextResponse("upstream unavailable\n", status_code=503)
        return PlainTextResponse("ok\n")

    async def metrics_page(_: StarletteRequest) -> Response:
        # Refusals by caller identity and call: bounded labels only (no person's name).
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/healthz", healthz), Route("/metrics", metrics_page)])


async def serve(
    front: Front,
    listen: str,
    tls: TlsFiles,
    people_listen: str | None = None,
    stop: asyncio.Event | None = None,
    health_port: int | None = None,
    health_host: str = "0.0.0.0",  # noqa: S104 - the orchestrator probes the pod's address
) -> None:
    """Serve until ``stop`` is set (or forever)."""
    options: Sequence[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", 128 * 1024 * 1024),
        ("grpc.max_send_message_length", 128 * 1024 * 1024),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ]
    servers = []
    mtls = grpc.aio.server(handlers=[_Handler(front, people=False)], options=options)
    mtls.add_secure_port(listen, server_credentials(tls, require_client_cert=True))
    servers.append(mtls)
    if people_listen:
        people = grpc.aio.server(handlers=[_Handler(front, people=True)], options=options)
        people.add_secure_port(people_listen, server_credentials(tls, require_client_cert=False))
        servers.append(people)
    for s in servers:
        await s.start()
    health: asyncio.Task[None] | None = None
    health_server: uvicorn.Server | None = None
    if health_port is not None:
        config = uvicorn.Config(
            health_app(front),
            host=health_host,
            port=health_port,
            log_level="warning",
        )
        health_server = uvicorn.Server(config)
        health = asyncio.create_task(health_server.serve())
    log.info("front.serving", listen=listen, people=people_listen or "")
    try:
        await (stop.wait() if stop is not None else asyncio.Event().wait())
    finally:
        if health_server is not None and health is not None:
            health_server.should_exit = True
            await health
        for s in servers:
            await s.stop(grace=2)
        await front.upstream.close()
