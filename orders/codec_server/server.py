"""The codec server process: identity ``codec-server``, served by uvicorn.

Like a worker, it gets its own projected ServiceAccount token (the dev stack's
TokenProjector, or the kubelet), logs in to Vault with Kubernetes auth and keeps the token
renewed; its policy allows only ``transit/decrypt/orders-payload`` and the HMAC its cookie
key is derived from (one request per start: :mod:`orders.codec_server.cookies`). The OIDC
provider's endpoints come from its discovery document. On SIGTERM it stops accepting
requests, finishes the ones in flight and revokes its Vault token.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx
import uvicorn
from starlette.applications import Starlette

from orders import logging as olog
from orders.codec_server.app import CodecService, create_app
from orders.codec_server.auth import JwksCache, TokenVerifier
from orders.codec_server.cookies import derive_sealer
from orders.codec_server.settings import CodecServerSettings
from orders.contract import identities
from orders.observability import metrics
from orders.oidc import AuthRequest, Provider, discover, exchange_code
from orders.security.codec import codec_for
from orders.security.erased_view import ErasedView
from orders.security.k8s_token import TokenProjector
from orders.security.trust import httpx_verify
from orders.security.vault import VaultSession, VaultUnavailableError
from orders.settings import WorkerSettings

log = olog.get(__name__)

IDENTITY = identities.CODEC_SERVER


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: ours stops it and then cleans up."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


CODEC_SERVER_OUTAGE_WAIT = 2.0
"""Seconds the codec server waits for Vault before answering a decode request with 503."""
DISCOVERY_ATTEMPTS = 30
"""Tries (a second apart) to read the provider's discovery document at start."""


async def discover_provider(issuer: str, verify: str | bool) -> Provider:
    """The provider's endpoints, retried while it starts (as the pod would be restarted)."""
    for attempt in range(DISCOVERY_ATTEMPTS):
        try:
            return await discover(issuer, verify=verify)
        except VaultUnavailableError as exc:
            if attempt == DISCOVERY_ATTEMPTS - 1:
                raise
            log.warning("codec_server.discovery_retry", issuer=issuer, error=str(exc))
            await asyncio.sleep(1)
    raise AssertionError("unreachable")


async def serve(worker: WorkerSettings, settings: CodecServerSettings) -> int:
    """Run until SIGTERM/SIGINT.

    Returns:
        Process exit code.
    """
    stop = asyncio.Event()
    session = VaultSession(IDENTITY, worker)
    codec = codec_for(session, worker)
    # A viewer, not a worker: unencrypted payloads (search attributes, foreign SDKs) are
    # shown as they are rather than failing the whole request.
    codec.allow_plaintext = True
    codec.quarantine = False  # it answers per payload: refused ones go back as they came
    # Someone is waiting on a page: an outage answers 503 soon rather than hanging it.
    codec.keys.outage_wait = min(codec.keys.outage_wait, CODEC_SERVER_OUTAGE_WAIT)
    verify = worker.vault_verify
    issuer = settings.resolved_issuer(worker.vault_addr)
    provider = await discover_provider(issuer, verify)
    keys = JwksCache(provider.jwks_uri, verify=verify, ttl_seconds=settings.jwks_cache_seconds)
    verifier = TokenVerifier(keys, issuer, settings.audience(), settings.leeway_seconds)

    async def exchange(request: AuthRequest, code: str) -> str:
        return await exchange_code(provider, request, code, verify=verify)

    started = asyncio.Event()
    service = CodecService(
        settings,
        codec,
        verifier,
        exchange=exchange,
        provider=provider,
        ready=started.is_set,
        erasures=ErasedView(codec.transit),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        background: list[asyncio.Task[None]] = []
        if worker.k8s_host:
            projector = TokenProjector.from_settings(worker, IDENTITY)
            await asyncio.to_thread(projector.refresh)
            background.append(asyncio.create_task(projector.run(stop)))
        await session.start()
        background.append(asyncio.create_task(session.run(stop)))
        # Every replica derives the same cookie key: one OpenBao request, now, not per cookie.
        service.sealer = await derive_sealer(codec.transit.hmac)
        started.set()
        log.info(
            "codec_server.started",
            url=settings.own_url,
            ui_origin=settings.ui_origin,
            issuer=verifier.issuer,
            encode=settings.enable_encode,
        )
        try:
            yield
        finally:
            stop.set()
            for task in background:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, timeout=5)
            await codec.transit.aclose()
            await keys.aclose()
            await session.close()
            log.info("codec_server.stopped")

    app = create_app(service, lifespan)
    server = _Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,  # the audit line is the access log, without secrets
            server_header=False,
            lifespan="on",
            timeout_graceful_shutdown=10,
            ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
            ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        )
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    await server.serve()
    return 0 if server.started else 1


def main(host: str | None = None, port: int | None = None) -> int:
    """Entry point of ``orders codec-server``: settings from ``ORDERS_*`` / ``ORDERS_CODEC_*``."""
    worker = WorkerSettings(identity=IDENTITY.name)
    olog.configure(IDENTITY.name, worker.log_level)
    metrics.configure(IDENTITY.name)
    if worker.metrics_port is not None:
        metrics.serve(worker.metrics_host, worker.metrics_port)
    settings = CodecServerSettings()
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    if overrides:
        settings = settings.model_copy(update=overrides)
    return asyncio.run(serve(worker, settings))


def ready(url: str, verify: str | bool = True) -> Callable[[], Awaitable[bool]]:
    """A readiness check for the supervisor: ``GET <url>/healthz`` answers 200."""

    async def check() -> bool:
        async with httpx.AsyncClient(timeout=2, verify=httpx_verify(verify)) as http:
            return (await http.get(f"{url}/healthz")).status_code == 200

    return check
