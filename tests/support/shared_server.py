"""One real server per test session, shared by every test module that asks for it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

S = TypeVar("S")


class SharedServer(Generic[S]):
    """Starts the server on first use and stops it when its last user is done.

    Session fixtures of several modules (and conftests) may each enter :meth:`use`; they get
    the same server, started once, so the suite pays one start however it is sliced.
    """

    def __init__(
        self,
        start: Callable[[], S],
        stop: Callable[[S], None],
        on_stop: Callable[[], None] = lambda: None,
    ) -> None:
        self._start, self._stop, self._on_stop = start, stop, on_stop
        self._server: S | None = None
        self._users = 0

    @contextlib.contextmanager
    def use(self) -> Iterator[S]:
        """The running server, for the duration of the ``with`` block."""
        if self._server is None:
            self._server = self._start()
        self._users += 1
        try:
            yield self._server
        finally:
            self._users -= 1
            if self._users == 0:
                self._stop(self._server)
                self._server = None
                self._on_stop()
