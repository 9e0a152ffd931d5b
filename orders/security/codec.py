"""Envelope encryption of every Temporal payload with keys held by Vault Transit.

Each payload is serialised, compressed when that helps, and sealed with AES-256-GCM under
a data key from Transit ``datakey`` (key type aes256-gcm96). The data key is cached in the
process and replaced after ``max_uses`` payloads or ``max_age`` seconds; its wrapped form
travels in the payload metadata, so any holder of Transit ``decrypt`` on the payload key
can open it, and nobody else. Unwrapped keys are cached by wrapped form: at steady state
a worker calls Vault about once per ``max_age``, not once per payload.

The codec implements ``WithSerializationContext``: bound to a workflow, the associated
data is ``namespace + workflow id``, so a payload copied into another workflow's history
fails authentication. Payloads that arrive unencrypted are refused unless explicitly
allowed, so raw input cannot be injected past the codec.

Decoding never calls Vault twice for one wrapped key within one call (not even when Vault
refused it: a request repeating one bogus key costs one Transit request, not thousands),
and never inflates a payload beyond ``max_decoded_bytes``: whoever may create data keys
can seal a compression bomb, which is refused like any other bad payload.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence
from typing import Final, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ActivitySerializationContext,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from orders.contract import transit_names
from orders.observability import metrics, names
from orders.security.keyring import KeyRing
from orders.security.transit import TransitClient, TransitInvalidError
from orders.security.vault import VaultSession
from orders.settings import WorkerSettings

ENCODING: Final = b"binary/encrypted"
FORMAT: Final = b"aes256gcm-envelope/v1"
META_ENCODING: Final = "encoding"
META_FORMAT: Final = "encryption-format"
META_KEY: Final = "encryption-key-name"
META_VERSION: Final = "encryption-key-version"
META_WRAPPED: Final = "encryption-wrapped-key"
META_CONTEXT: Final = "encryption-context"
META_COMPRESSION: Final = "encryption-compression"
NONCE_BYTES: Final = 12
REFUSED: Final = b"binary/refused"
"""Encoding of the content-free marker a quarantining codec returns for a refused payload."""
META_REFUSED: Final = "encryption-refused"
DEFAULT_MAX_DECODED_BYTES: Final = 4 * 1024 * 1024
"""Largest serialised payload written or read: gRPC's default message limit, so nothing
larger can have reached Temporal uncompressed, and a compression bomb stops here."""

Unwrapped = dict[str, bytes | TransitInvalidError]
"""Data keys unwrapped during one decode call, or Vault's refusal, by wrapped form."""


class PayloadRefusedError(ValueError):
    """A payload the codec will not accept: unencrypted, tampered, or bound elsewhere.

    Args:
        message: What is wrong (for logs and the marker; never the payload's content).
        reason: The same as one bounded word (:data:`orders.observability.names.CODEC_REASONS`),
            the metrics' label.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class PayloadTooLargeError(ValueError):
    """A payload to encode is larger than the codec would accept when decoding it."""


def refused_marker(reason: str) -> Payload:
    """What a quarantining codec returns instead of a refused payload: no content at all.

    No payload converter knows the ``binary/refused`` encoding, so typed code cannot use it
    (a workflow input so refused fails its task, and stays refused); handlers that take raw
    payloads (the approval signal) see it, count it and drop it, and the workflow task
    succeeds. The refused bytes never reach workflow or activity code.
    """
    return Payload(metadata={META_ENCODING: REFUSED, META_REFUSED: reason.encode()}, data=b"")


def bound_context(namespace: str, workflow_id: str | None) -> str:
    """The associated-data string a payload is bound to."""
    return f"temporal/v1|{namespace}|{workflow_id or ''}"


class EnvelopeCodec(PayloadCodec, WithSerializationContext):
    """AES-256-GCM payload codec with data keys from Vault Transit.

    Args:
        transit: Transit client of this process's identity.
        key_name: Transit key wrapping the data keys.
        namespace: Temporal namespace (part of the associated data).
        max_uses: Payloads encrypted under one data key before a new one is fetched.
        max_age: Seconds a data key is used for encryption.
        allow_plaintext: Accept unencrypted payloads (off: refuse them).
        quarantine: Replace refused payloads by :func:`refused_marker` (workers: a hostile
            signal must never fail a workflow task) instead of raising
            :class:`PayloadRefusedError` (the codec server, which answers per payload).
        compress_min: Only try zlib on serialised payloads at least this long.
        cache_size: Unwrapped data keys kept (by wrapped form).
        outage_wait: Seconds to wait for Vault when a data key is needed and none is
            usable (see :class:`orders.security.keyring.KeyRing`).
        max_decoded_bytes: Largest serialised payload encoded or decoded (decompressed).
    """

    def __init__(
        self,
        transit: TransitClient,
        key_name: str,
        namespace: str,
        *,
        max_uses: int = 10_000,
        max_age: float = 300.0,
        allow_plaintext: bool = False,
        quarantine: bool = True,
        compress_min: int = 256,
        cache_size: int = 1024,
        outage_wait: float = 0.0,
        max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
    ) -> None:
        self.transit = transit
        self.max_decoded_bytes = max_decoded_bytes
        self.key_name = key_name
        self.namespace = namespace
        self.allow_plaintext = allow_plaintext
        self.quarantine = quarantine
        self.compress_min = compress_min
        # Shared by every context-bound copy: one key cache per process.
        self.keys = KeyRing(
            transit,
            key_name,
            max_uses=max_uses,
            max_age=max_age,
            cache_size=cache_size,
            outage_wait=outage_wait,
        )
        self._workflow_id: str | None = None
        self._bound = False

    # --- serialization context ------------------------------------------------------

    def with_context(self, context: SerializationContext) -> Self:
        """A copy bound to the workflow in ``context`` (sharing the key cache)."""
        workflow_id: str | None = None
        if isinstance(context, WorkflowSerializationContext | ActivitySerializationContext):
            workflow_id = context.workflow_id
        copy = type(self).__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy._workflow_id = workflow_id
        copy._bound = workflow_id is not None
        return copy

    @property
    def context(self) -> str:
        """Associated data of payloads this instance encodes."""
        return bound_context(self.namespace, self._workflow_id)

    @property
    def stats(self) -> dict[str, int]:
        """Data keys fetched and unwrapped by this process so far."""
        return {"new_keys": self.keys.new_keys, "unwraps": self.keys.unwraps}

    # --- encode ---------------------------------------------------------------------

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each payload (after compressing it when that makes it smaller).

        Raises:
            PayloadTooLargeError: A payload larger than ``max_decoded_bytes``, which no
                codec would decode: better refused now than written unreadable to history.
        """
        out = []
        context = self.context.encode()
        for payload in payloads:
            raw = payload.SerializeToString()
            if len(raw) > self.max_decoded_bytes:
                raise PayloadTooLargeError(
                    f"payload of {len(raw)} bytes is above the codec's limit of "
                    f"{self.max_decoded_bytes} bytes"
                )
            compression = b"none"
            if len(raw) >= self.compress_min:
                packed = zlib.compress(raw, 6)
                if len(packed) < len(raw):
                    raw, compression = packed, b"zlib"
            key = await self.keys.current()
            nonce = os.urandom(NONCE_BYTES)
            sealed = AESGCM(key.plaintext).encrypt(nonce, raw, context)
            out.append(
                Payload(
                    metadata={
                        META_ENCODING: ENCODING,
                        META_FORMAT: FORMAT,
                        META_KEY: self.key_name.encode(),
                        META_VERSION: str(key.version).encode(),
                        META_WRAPPED: key.wrapped.encode(),
                        META_CONTEXT: context,
                        META_COMPRESSION: compression,
                    },
                    data=nonce + sealed,
                )
            )
        return out

    # --- decode ---------------------------------------------------------------------

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt each payload; refuse plaintext, foreign contexts, tampering and bombs.

        Raises:
            PayloadRefusedError: For a refused payload, unless quarantining.
            TransitInvalidError: Vault refused to unwrap a data key (e.g. a retired version).
            VaultUnavailableError: Vault unreachable (always raised: a retry, not a refusal).
        """
        out = []
        unwrapped: Unwrapped = {}
        for payload in payloads:
            try:
                out.append(await self._decode_one(payload, unwrapped))
            except PayloadRefusedError as refused:
                if not self.quarantine:
                    metrics.codec_refused(refused.reason, names.RAISED)
                    raise
                metrics.codec_refused(refused.reason, names.QUARANTINED)
                out.append(refused_marker(str(refused)))
        return out

    async def decode_each(self, payloads: Sequence[Payload]) -> list[Payload | None]:
        """Decrypt each payload on its own: ``None`` where it is refused (a viewer's answer).

        A payload the codec refuses, or whose data key Vault will not unwrap, does not stop
        the others. Each distinct wrapped key costs Vault at most one request per call.

        Raises:
            TransitDeniedError: This identity may not decrypt at all.
            VaultUnavailableError: Vault unreachable.
        """
        out: list[Payload | None] = []
        unwrapped: Unwrapped = {}
        for payload in payloads:
            try:
                out.append(await self._decode_one(payload, unwrapped))
            except PayloadRefusedError as refused:
                metrics.codec_refused(refused.reason, names.LEFT_ENCODED)
                out.append(None)
            except TransitInvalidError:
                metrics.codec_refused(names.KEY_REFUSED, names.LEFT_ENCODED)
                out.append(None)
        return out

    def unwraps_needed(self, payloads: Sequence[Payload]) -> int:
        """Transit requests that decoding ``payloads`` costs at most (a rate limiter's price).

        That is the distinct wrapped keys of envelope payloads this process does not hold.
        """
        wrapped = {
            bytes(p.metadata[META_WRAPPED]).decode(errors="replace")
            for p in payloads
            if p.metadata.get(META_ENCODING) == ENCODING and META_WRAPPED in p.metadata
        }
        return sum(1 for w in wrapped if not self.keys.holds(w))

    async def _unwrap(self, wrapped: str, unwrapped: Unwrapped) -> bytes:
        """The data key of ``wrapped``, asking the key ring (so Vault) once per call."""
        seen = unwrapped.get(wrapped)
        if isinstance(seen, TransitInvalidError):
            # Vault said no already: asking again would only spend its capacity.
            raise TransitInvalidError(str(seen))
        if seen is not None:
            return seen
        try:
            key = await self.keys.unwrap(wrapped)
        except TransitInvalidError as exc:
            unwrapped[wrapped] = exc
            raise
        unwrapped[wrapped] = key
        return key

    async def _decode_one(self, payload: Payload, unwrapped: Unwrapped) -> Payload:
        if payload.metadata.get(META_ENCODING) != ENCODING:
            if self.allow_plaintext:
                return payload
            raise PayloadRefusedError("unencrypted payload refused", names.PLAINTEXT)
        meta = payload.metadata
        if meta.get(META_FORMAT) != FORMAT or meta.get(META_KEY) != self.key_name.encode():
            raise PayloadRefusedError(
                "payload encrypted in an unknown format or key", names.UNKNOWN_FORMAT
            )
        recorded = bytes(meta.get(META_CONTEXT, b""))
        # Bound to a workflow, the AAD is ours, not whatever the metadata claims: a payload
        # copied from another workflow cannot authenticate here. Unbound (e.g. a viewer
        # decoding for the UI), the recorded context is checked by the tag.
        context = self.context.encode() if self._bound else recorded
        key = await self._unwrap(bytes(meta[META_WRAPPED]).decode(), unwrapped)
        data = bytes(payload.data)
        try:
            raw = AESGCM(key).decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], context)
        except InvalidTag:
            raise PayloadRefusedError(
                "payload failed authentication (tampered, or bound to another workflow)",
                names.AUTHENTICATION,
            ) from None
        if meta.get(META_COMPRESSION) == b"zlib":
            raw = inflate(raw, self.max_decoded_bytes)
        elif len(raw) > self.max_decoded_bytes:
            raise PayloadRefusedError(
                f"payload larger than {self.max_decoded_bytes} bytes", names.TOO_LARGE
            )
        inner = Payload()
        try:
            inner.ParseFromString(raw)
        except DecodeError:
            # Authentic but not a Payload: sealed by a key holder, not by this codec.
            raise PayloadRefusedError(
                "payload is not a serialised Payload", names.NOT_A_PAYLOAD
            ) from None
        return inner


def inflate(data: bytes, limit: int) -> bytes:
    """zlib-decompress ``data``, refusing output beyond ``limit`` bytes (never expanded).

    Raises:
        PayloadRefusedError: Expands beyond ``limit``, corrupt, truncated or trailing data.
    """
    inflater = zlib.decompressobj()
    try:
        # max_length bounds the memory: one byte past the limit proves the payload is over
        # it, and the rest stays compressed in unconsumed_tail, never expanded.
        raw = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise PayloadRefusedError(
            "payload's compressed data is corrupt", names.CORRUPT_COMPRESSION
        ) from None
    if len(raw) > limit:
        raise PayloadRefusedError(f"payload expands beyond {limit} bytes", names.TOO_LARGE)
    if not inflater.eof or inflater.unconsumed_tail or inflater.unused_data:
        raise PayloadRefusedError(
            "payload's compressed data is truncated or has trailing data",
            names.CORRUPT_COMPRESSION,
        )
    return raw


def codec_for(session: VaultSession, settings: WorkerSettings) -> EnvelopeCodec:
    """The payload codec of a process, using its Vault session's current token."""
    transit = TransitClient(
        settings.vault_addr,
        lambda: str(session.client.token),
        verify=settings.vault_verify,
        token_valid=session.token_valid,
    )
    return EnvelopeCodec(
        transit,
        transit_names.PAYLOAD_KEY,
        settings.temporal_namespace,
        allow_plaintext=settings.allow_plaintext_payloads,
        outage_wait=settings.codec_outage_wait_seconds,
    )
