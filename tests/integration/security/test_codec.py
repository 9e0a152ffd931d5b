"""The envelope codec against the real Vault Transit engine of the running stack."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

import hvac
import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext

from orders.contract import identities, transit_names
from orders.devstack.identity_env import identity_settings
from orders.devstack.servers import free_port
from orders.devstack.state import StackInfo, StackPaths
from orders.security.codec import (
    ENCODING,
    META_COMPRESSION,
    META_WRAPPED,
    REFUSED,
    EnvelopeCodec,
    PayloadRefusedError,
    codec_for,
)
from orders.security.transit import TransitClient, TransitDeniedError
from orders.security.vault import VaultSession, VaultUnavailableError
from tests.support import stack as support

pytestmark = pytest.mark.integration

NS = identities.TEMPORAL_NAMESPACE


@contextlib.asynccontextmanager
async def codec_as(
    stack: StackInfo, paths: StackPaths, identity: identities.Identity, **kwargs: object
) -> AsyncIterator[EnvelopeCodec]:
    settings = identity_settings(stack, paths, identity)
    support.projected_token(stack, paths, identity)
    session = VaultSession(identity, settings)
    await session.start()
    codec = codec_for(session, settings)
    for key, value in kwargs.items():
        setattr(codec.keys if hasattr(codec.keys, key) else codec, key, value)
    try:
        yield codec
    finally:
        await codec.transit.aclose()
        await session.close()


def wf(workflow_id: str) -> WorkflowSerializationContext:
    return WorkflowSerializationContext(namespace=NS, workflow_id=workflow_id)


def json_payload(value: object) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())


async def test_round_trip_hides_content_and_binds_to_workflow(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    secret = {"customer_email": "round.trip@example.com", "note": "x" * 600}
    async with codec_as(stack, stack_paths, identities.ORDER_CLIENT, quarantine=False) as codec:
        a = codec.with_context(wf("order-a"))
        (enc,) = await a.encode([json_payload(secret)])
        assert enc.metadata["encoding"] == ENCODING
        assert b"round.trip" not in enc.SerializeToString()
        assert enc.metadata[META_WRAPPED].startswith(b"vault:v")
        assert enc.metadata[META_COMPRESSION] == b"zlib"  # 600 repeated bytes compress
        assert len(enc.data) < 600
        (dec,) = await a.decode([enc])
        assert json.loads(dec.data) == secret

        # The same payload pasted into another workflow's history does not authenticate.
        with pytest.raises(PayloadRefusedError, match="another workflow"):
            await codec.with_context(wf("order-b")).decode([enc])
        # An activity of the right workflow may read it.
        act = ActivitySerializationContext(
            namespace=NS, activity_id="1", activity_type="x", activity_task_queue="q",
            workflow_id="order-a", workflow_type="OrderWorkflow", is_local=False,
        )  # fmt: skip
        (via_activity,) = await codec.with_context(act).decode([enc])
        assert json.loads(via_activity.data) == secret


async def test_tampered_ciphertext_and_plaintext_are_refused(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    async with codec_as(stack, stack_paths, identities.ORDER_CLIENT, quarantine=False) as codec:
        bound = codec.with_context(wf("order-t"))
        (enc,) = await bound.encode([json_payload({"k": "v"})])
        tampered = Payload()
        tampered.CopyFrom(enc)
        data = bytearray(tampered.data)
        data[-1] ^= 0x01
        tampered.data = bytes(data)
        with pytest.raises(PayloadRefusedError, match="authentication"):
            await bound.decode([tampered])
        with pytest.raises(PayloadRefusedError, match="unencrypted"):
            await bound.decode([json_payload({"injected": True})])
        # Workers quarantine instead of raising: the refused payload becomes a content-free
        # marker that no converter accepts, so a hostile signal cannot fail a workflow task.
        codec.quarantine = True
        marked = await codec.with_context(wf("order-t")).decode(
            [json_payload({"injected": True}), tampered]
        )
        assert [m.metadata["encoding"] for m in marked] == [REFUSED, REFUSED]
        assert [m.data for m in marked] == [b"", b""]
        codec.allow_plaintext = True
        (passed,) = await codec.with_context(wf("order-t")).decode([json_payload({"ok": 1})])
        assert json.loads(passed.data) == {"ok": 1}


async def test_data_keys_are_cached_and_rotated_by_count(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    async with codec_as(stack, stack_paths, identities.ORDER_CLIENT, max_uses=3) as codec:
        bound = codec.with_context(wf("order-k"))
        before = codec.transit.requests
        encoded = [(await bound.encode([json_payload(i)]))[0] for i in range(7)]
        # 7 payloads, 3 per key: 3 data keys, and decoding them needs no Vault call at all.
        assert codec.stats["new_keys"] == 3
        assert codec.transit.requests - before == 3
        wrapped = {p.metadata[META_WRAPPED] for p in encoded}
        assert len(wrapped) == 3
        decoded = await bound.decode(encoded)
        assert [json.loads(p.data) for p in decoded] == list(range(7))
        assert codec.transit.requests - before == 3

    # Another process (here: the workflow identity) unwraps each data key once, then caches.
    async with codec_as(stack, stack_paths, identities.ORDER_WORKFLOW) as other:
        other_bound = other.with_context(wf("order-k"))
        await other_bound.decode(encoded)
        await other_bound.decode(encoded)
        assert other.stats["unwraps"] == 3
        assert other.transit.requests == 3


async def test_codec_server_identity_may_decrypt_but_not_create_keys(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    async with codec_as(stack, stack_paths, identities.ORDER_CLIENT) as client_codec:
        (enc,) = await client_codec.with_context(wf("order-c")).encode([json_payload("hello")])
    async with codec_as(stack, stack_paths, identities.CODEC_SERVER) as viewer:
        (dec,) = await viewer.decode([enc])  # unbound: checks the recorded context
        assert json.loads(dec.data) == "hello"
        with pytest.raises(TransitDeniedError):
            await viewer.with_context(wf("order-c")).encode([json_payload("forged")])


async def test_migrate_identity_cannot_touch_payloads(
    stack: StackInfo, stack_paths: StackPaths
) -> None:
    async with codec_as(stack, stack_paths, identities.ORDER_MIGRATE) as codec:
        with pytest.raises(TransitDeniedError):
            await codec.with_context(wf("order-m")).encode([json_payload(1)])


@pytest.mark.parametrize("sealed", transit_names.SEALED_FIELDS, ids=lambda s: s.field)
def test_field_keys_open_only_for_their_consumer(
    stack: StackInfo, stack_paths: StackPaths, sealed: transit_names.SealedField
) -> None:
    client = support.login_as(stack, stack_paths, identities.ORDER_CLIENT)
    # The client creates field data keys (to seal) but cannot unwrap them again.
    wrapped = client.secrets.transit.generate_data_key(sealed.key, key_type="plaintext")["data"][
        "ciphertext"
    ]
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.transit.decrypt_data(sealed.key, wrapped)
    client.auth.token.revoke_self()
    opened_by = []
    for ident in identities.ALL:
        vault = support.login_as(stack, stack_paths, ident)
        try:
            vault.secrets.transit.decrypt_data(sealed.key, wrapped)
            opened_by.append(ident.name)
        except hvac.exceptions.Forbidden:
            pass
        finally:
            vault.auth.token.revoke_self()
    assert opened_by == [sealed.consumer.name]


async def test_vault_outage_is_a_retryable_error(stack: StackInfo) -> None:
    transit = TransitClient(f"http://127.0.0.1:{free_port()}", lambda: "t", timeout=2)
    codec = EnvelopeCodec(transit, transit_names.PAYLOAD_KEY, NS)
    with pytest.raises(VaultUnavailableError):
        await codec.with_context(wf("order-o")).encode([json_payload(1)])
    await transit.aclose()
