"""The namespace-registration step against the real dev stack (``setup namespace``).

The step's wiring through the authorization front: the admin JWT is minted by the stack's
OpenBao, the client certificate of the ``temporal-admin`` role passes the front, which lets
that principal register the contract's namespace only: the stack's own ``orders``
namespace answers "exists" without error, and any other namespace is refused.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from pathlib import Path

import hvac
import pytest
from temporalio.service import RPCError, RPCStatusCode

from orders.contract import identities
from orders.deploy import setup, temporal_namespace
from orders.deploy.setup_tokens import Step, mint_step_tokens
from orders.devstack.state import StackInfo
from orders.files import write_private

pytestmark = pytest.mark.integration


def _args(stack: StackInfo, namespace: str, token_dir: Path) -> argparse.Namespace:
    """The step's arguments, with a token of its own (as the ``unseal`` step mints it)."""
    assert stack.ca_file
    assert stack.temporal_server_name
    root = hvac.Client(
        stack.vault_addr,
        token=Path(stack.vault_root_token_file).read_text().strip(),
        verify=stack.ca_file,
    )
    token_file = token_dir / "namespace-token"
    write_private(token_file, mint_step_tokens(root, [Step.NAMESPACE])[Step.NAMESPACE])
    return argparse.Namespace(
        vault_addr=stack.vault_addr,
        token_file=token_file,
        vault_ca_file=[Path(stack.ca_file)],
        temporal_address=stack.temporal_address,
        temporal_ca_file=Path(stack.ca_file),
        temporal_server_name=stack.temporal_server_name,
        namespace=namespace,
    )


async def test_another_namespace_is_refused_by_the_front(stack: StackInfo, tmp_path: Path) -> None:
    fresh = f"authboot-{uuid.uuid4().hex[:8]}"
    with pytest.raises(RPCError) as refused:
        await asyncio.to_thread(setup.namespace, _args(stack, fresh, tmp_path))
    assert refused.value.status is RPCStatusCode.PERMISSION_DENIED
    assert "temporal-admin" in refused.value.message


async def test_the_stacks_own_namespace_exists(stack: StackInfo, tmp_path: Path) -> None:
    args = _args(stack, identities.TEMPORAL_NAMESPACE, tmp_path)
    result = await asyncio.to_thread(setup.namespace, args)
    assert result == temporal_namespace.EXISTS
