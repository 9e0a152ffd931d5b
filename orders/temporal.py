"""The one Temporal client factory: every client and worker connects through here.

A client cannot be made without the payload codec: the data converter is always pydantic
+ the Vault-backed envelope codec + a failure converter that encodes failure messages and
stack traces, so no path can forget encryption. Against a TLS frontend (the dev stack's
mTLS front, or a server's native TLS) the caller passes the identity's Vault-issued client
certificate (:class:`orders.security.client_tls.ClientCertificates`); against an authorizing
server, the identity's own JWT (:class:`orders.security.client_tls.TemporalToken`).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from orders import logging as olog
from orders.security.certs import IssuedCert
from orders.security.codec import EnvelopeCodec
from orders.security.search_attributes import SearchAttributeGuard

log = olog.get(__name__)
T = TypeVar("T")


def data_converter(codec: EnvelopeCodec) -> DataConverter:
    """The project's data converter: pydantic models, encrypted payloads and failures."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def tls_config(ca_pem: bytes, server_name: str, cert: IssuedCert | None = None) -> TLSConfig:
    """TLS towards a Temporal frontend: the one place a :class:`TLSConfig` is put together.

    Args:
        ca_pem: The root CA the frontend's certificate must chain to (PEM).
        server_name: The name the frontend's certificate must carry.
        cert: The client certificate to present (sent with its chain), or None for none.

    Returns:
        The configuration for :func:`connect` (or ``Client.connect``).
    """
    return TLSConfig(
        server_root_ca_cert=ca_pem,
        domain=server_name,
        client_cert=cert.fullchain.encode() if cert else None,
        client_private_key=cert.private_key.encode() if cert else None,
    )


async def connect(
    address: str,
    namespace: str,
    codec: EnvelopeCodec,
    *,
    tls: TLSConfig | None = None,
    api_key: str | None = None,
    attempts: int = 30,
    runtime: Runtime | None = None,
    tracing: Interceptor | None = None,
) -> Client:
    """Connect to Temporal, retrying while the frontend comes up.

    Args:
        address: ``host:port`` of the frontend.
        namespace: Temporal namespace.
        codec: The process's envelope codec (see :mod:`orders.security.codec`).
        tls: Server CA, server name and client certificate; None for a plaintext frontend.
        api_key: The identity's Temporal JWT, sent as ``authorization: Bearer`` (update a
            live client with ``client.api_key = ...``); None sends none.
        attempts: How many one-second-spaced tries before giving up.
        runtime: The SDK runtime (a worker's exports its metrics); None: the default one.
        tracing: The identity's tracing interceptor
            (:func:`orders.observability.tracing.interceptor`); None: no spans.

    Returns:
        A client whose every payload and failure is encrypted.
    """
    return await while_coming_up(
        lambda: Client.connect(
            address,
            namespace=namespace,
            data_converter=data_converter(codec),
            interceptors=[SearchAttributeGuard(), *([tracing] if tracing else [])],
            tls=tls or False,
            api_key=api_key,
            runtime=runtime,
        ),
        attempts,
    )


REFUSALS: Final = ("code: Unauthenticated", "code: PermissionDenied")
"""How the SDK's connect error names an answer that retrying cannot change."""


def refused(exc: Exception) -> bool:
    """Whether Temporal (or the authorization front) refused the caller: no point retrying.

    Anything else may be a frontend that is not there yet.
    """
    if isinstance(exc, RPCError):
        return exc.status in (RPCStatusCode.UNAUTHENTICATED, RPCStatusCode.PERMISSION_DENIED)
    return any(marker in str(exc) for marker in REFUSALS)


async def while_coming_up(connect: Callable[[], Awaitable[T]], attempts: int) -> T:
    """``connect()``, retried once a second while the frontend is not there yet.

    Raises:
        RuntimeError | RPCError: The last attempt's error.
    """
    for attempt in range(1, attempts + 1):
        try:
            return await connect()
        except (RuntimeError, RPCError) as exc:
            if attempt == attempts or refused(exc):
                raise
            log.warning("temporal.unavailable", error=type(exc).__name__, attempt=attempt)
            await asyncio.sleep(1)
    raise AssertionError("unreachable")
