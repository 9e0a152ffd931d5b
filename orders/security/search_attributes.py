"""Search attributes are stored and indexed in the clear: only an explicit list is allowed.

Temporal never passes search attributes through the payload codec (it must index them),
so anything put there is readable by whoever can list workflows. The client factory
installs :class:`SearchAttributeGuard`, which refuses to start a workflow with any search
attribute not named in :data:`ALLOWED`; a unit test checks that workflow code upserts only
allowed ones.
"""

from __future__ import annotations

from typing import Any, Final

from temporalio.client import Interceptor, OutboundInterceptor, StartWorkflowInput
from temporalio.common import SearchAttributes, TypedSearchAttributes

ALLOWED: Final[frozenset[str]] = frozenset()
"""Non-sensitive attributes a workflow may carry. Empty today: nothing is indexed in clear."""


class DisallowedSearchAttributeError(ValueError):
    """A search attribute outside :data:`ALLOWED` (its value would be stored unencrypted)."""


def names(attributes: SearchAttributes | TypedSearchAttributes | None) -> set[str]:
    """Names of the given search attributes, in either SDK form."""
    if attributes is None:
        return set()
    if isinstance(attributes, TypedSearchAttributes):
        return {pair.key.name for pair in attributes}
    return set(attributes)


def check(attributes: SearchAttributes | TypedSearchAttributes | None) -> None:
    """Refuse any attribute not allowed.

    Raises:
        DisallowedSearchAttributeError: Naming the attributes (never their values).
    """
    refused = names(attributes) - ALLOWED
    if refused:
        raise DisallowedSearchAttributeError(
            f"search attributes are stored unencrypted; not allowed: {', '.join(sorted(refused))}"
        )


class SearchAttributeGuard(Interceptor):
    """Client interceptor enforcing :data:`ALLOWED` on every workflow start."""

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        """Wrap the client's outbound calls."""
        return _Guarded(next)


class _Guarded(OutboundInterceptor):
    async def start_workflow(self, input: StartWorkflowInput) -> Any:
        check(input.search_attributes)
        return await super().start_workflow(input)
