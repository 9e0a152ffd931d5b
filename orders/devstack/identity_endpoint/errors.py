"""Errors of the identity endpoint: refused tokens, inconsistent state, API failures."""

from __future__ import annotations

from typing import Any, Final


class InvalidTokenError(Exception):
    """A ServiceAccount token that this issuer does not accept (message is safe to log)."""


class StateError(RuntimeError):
    """The state directory holds files that do not fit together."""


class ApiError(Exception):
    """A request the API refuses: answered as a Kubernetes ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str, **details: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status_body(self) -> dict[str, Any]:
        """The ``Status`` object the apiserver answers failures with."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = dict(self.details)
        return body


UNAUTHORIZED: Final = (401, "Unauthorized", "Unauthorized")
"""What the apiserver answers any request whose credential it does not accept."""


def unauthorized() -> ApiError:
    """The one answer to a missing or unknown credential (it tells nothing more)."""
    return ApiError(*UNAUTHORIZED)
