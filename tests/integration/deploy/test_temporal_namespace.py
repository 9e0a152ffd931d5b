"""The ``temporal-admin`` setup steps against the real dev stack (``setup namespace|promote``).

The steps' wiring through the authorization front: the admin JWT is minted by the stack's
OpenBao with the step's own token, the client certificate of the ``temporal-admin`` role
passes the front, which lets that principal register the contract's namespace only: the
stack's own ``orders`` namespace answers "exists" without error, and any other namespace
is refused. ``promote`` makes the workflow workers' version current: the stack's own build
is (``orders dev up`` promoted it), so a rerun leaves it alone; a build no worker polled
with fails naming it, the current version unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from pathlib import Path
from typing import Any

import hvac
import pytest
from temporalio.service import RPCError, RPCStatusCode

from orders import rollout
from orders.contract import identities
from orders.deploy import setup, temporal_namespace
from orders.deploy.setup_tokens import Step, mint_step_tokens
from orders.devstack.state import StackInfo
from orders.files import write_private

pytestmark = pytest.mark.integration


def _args(
    stack: StackInfo, namespace: str, token_dir: Path, step: Step = Step.NAMESPACE, **extra: Any
) -> argparse.Namespace:
    """The step's arguments, with a token of its own (as the ``unseal`` step mints it)."""
    assert stack.ca_file
    assert stack.temporal_server_name
    root = hvac.Client(
        stack.vault_addr,
        token=Path(stack.vault_root_token_file).read_text().strip(),
        verify=stack.ca_file,
    )
    token_file = token_dir / f"{step.value}-token"
    write_private(token_file, mint_step_tokens(root, [step])[step])
    return argparse.Namespace(
        vault_addr=stack.vault_addr,
        token_file=token_file,
        vault_ca_file=[Path(stack.ca_file)],
        temporal_address=stack.temporal_address,
        temporal_ca_file=Path(stack.ca_file),
        temporal_server_name=stack.temporal_server_name,
        namespace=namespace,
        **extra,
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


def _promote_args(stack: StackInfo, tmp_path: Path, build: str | None, wait: float) -> Any:
    return _args(stack, stack.namespace, tmp_path, Step.PROMOTE, build_id=build, wait_seconds=wait)


async def test_promoting_the_current_build_again_changes_nothing(
    stack: StackInfo, tmp_path: Path
) -> None:
    # The stack's workers poll as this source's build, the image's build in compose/kind.
    args = _promote_args(stack, tmp_path, None, 5)
    done = await asyncio.to_thread(setup.promote, args)
    deployment = identities.ORDER_WORKFLOW.worker_deployment
    assert done == {deployment: "already current"}, (done, rollout.code_build_id())


async def test_promoting_a_build_nobody_polled_with_fails_naming_it(
    stack: StackInfo, tmp_path: Path
) -> None:
    args = _promote_args(stack, tmp_path, "never-polled-9", 0.5)
    with pytest.raises(SystemExit) as failed:
        await asyncio.to_thread(setup.promote, args)
    assert "never-polled-9" in str(failed.value.code)
    assert identities.ORDER_WORKFLOW.worker_deployment in str(failed.value.code)
    again = await asyncio.to_thread(setup.promote, _promote_args(stack, tmp_path, None, 5))
    assert again == {identities.ORDER_WORKFLOW.worker_deployment: "already current"}
