"""Fixtures of the front's integration tests."""

from __future__ import annotations

import pytest

from orders.devstack.servers import FRONT_TOKEN_KEY
from orders.devstack.state import StackPaths
from orders.front.tokens import TokenBinding


@pytest.fixture(scope="module")
def tokens(stack_paths: StackPaths) -> TokenBinding:
    """The front's key (the test harness reads the stack's secrets as the operator)."""
    return TokenBinding((stack_paths.secrets / FRONT_TOKEN_KEY).read_bytes())
