"""Task tokens are bound to the principal that polled them."""

from __future__ import annotations

import pytest

from orders.front.tokens import TokenBinding

KEY = b"k" * 32


def test_the_poller_gets_its_token_back() -> None:
    binding = TokenBinding(KEY)
    wrapped = binding.wrap("order-notify", b"task-token")
    assert wrapped != b"task-token"
    assert binding.unwrap("order-notify", wrapped) == b"task-token"


def test_another_principal_is_refused() -> None:
    binding = TokenBinding(KEY)
    wrapped = binding.wrap("order-process-payment", b"task-token")
    assert binding.unwrap("order-notify", wrapped) is None


def test_a_raw_or_altered_token_is_refused() -> None:
    binding = TokenBinding(KEY)
    wrapped = binding.wrap("order-notify", b"task-token")
    assert binding.unwrap("order-notify", b"task-token") is None
    assert binding.unwrap("order-notify", b"x" + wrapped[1:]) is None
    assert binding.unwrap("order-notify", b"") is None


def test_another_key_refuses() -> None:
    wrapped = TokenBinding(KEY).wrap("order-notify", b"task-token")
    assert TokenBinding(b"j" * 32).unwrap("order-notify", wrapped) is None


def test_no_task_stays_no_task() -> None:
    assert TokenBinding(KEY).wrap("order-notify", b"") == b""


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        TokenBinding(b"short")
