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
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence
from typing import Final, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ActivitySerializationContext,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from orders import identities
from orders.security.keyring import KeyRing
from orders.security.transit import TransitClient
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


class PayloadRefusedError(ValueError):
    """A payload the codec will not accept: unencrypted, tampered, or bound elsewhere."""


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
    ) -> None:
        self.transit = transit
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
        """Encrypt each payload (after compressing it when that makes it smaller)."""
        out = []
        context = self.context.encode()
        for payload in payloads:
            raw = payload.SerializeToString()
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
        """Decrypt each payload; refuse plaintext, foreign contexts and tampering.

        Raises:
            PayloadRefusedError: For a refused payload, unless quarantining.
            VaultUnavailableError: Vault unreachable (always raised: a retry, not a refusal).
        """
        out = []
        for payload in payloads:
            try:
                out.append(await self._decode_one(payload))
            except PayloadRefusedError as refused:
                if not self.quarantine:
                    raise
                out.append(refused_marker(str(refused)))
        return out

    async def _decode_one(self, payload: Payload) -> Payload:
        if payload.metadata.get(META_ENCODING) != ENCODING:
            if self.allow_plaintext:
                return payload
            raise PayloadRefusedError("unencrypted payload refused")
        meta = payload.metadata
        if meta.get(META_FORMAT) != FORMAT or meta.get(META_KEY) != self.key_name.encode():
            raise PayloadRefusedError("payload encrypted in an unknown format or key")
        recorded = bytes(meta.get(META_CONTEXT, b""))
        # Bound to a workflow, the AAD is ours, not whatever the metadata claims: a payload
        # copied from another workflow cannot authenticate here. Unbound (e.g. a viewer
        # decoding for the UI), the recorded context is checked by the tag.
        context = self.context.encode() if self._bound else recorded
        key = await self.keys.unwrap(bytes(meta[META_WRAPPED]).decode())
        data = bytes(payload.data)
        try:
            raw = AESGCM(key).decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], context)
        except InvalidTag:
            raise PayloadRefusedError(
                "payload failed authentication (tampered, or bound to another workflow)"
            ) from None
        if meta.get(META_COMPRESSION) == b"zlib":
            raw = zlib.decompress(raw)
        inner = Payload()
        inner.ParseFromString(raw)
        return inner


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
        identities.PAYLOAD_KEY,
        settings.temporal_namespace,
        allow_plaintext=settings.allow_plaintext_payloads,
        outage_wait=settings.codec_outage_wait_seconds,
    )
