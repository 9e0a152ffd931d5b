"""The suite's run order: unit, then component, then integration; chaos tests last.

Collection order is alphabetical (component, integration, unit); the run order puts the
fastest feedback first and the tests that stop servers and kill workers under the shared
stack (``@pytest.mark.chaos``) after everything else. The sort is stable, so tests keep
their module order within a tier (module- and session-scoped fixtures stay grouped).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pytest

from tests.support.tiers import TIERS

_TESTS: Final = Path(__file__).parent


def _tier(item: pytest.Item) -> int:
    parts = item.path.relative_to(_TESTS).parts
    return TIERS.index(parts[0]) if parts and parts[0] in TIERS else len(TIERS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Sort by tier, chaos tests last of all."""
    items.sort(key=lambda item: (item.get_closest_marker("chaos") is not None, _tier(item)))
