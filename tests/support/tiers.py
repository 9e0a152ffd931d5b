"""The test tiers, in the order the suite runs them (tests/conftest.py sorts by it)."""

from __future__ import annotations

from typing import Final

TIERS: Final = ("unit", "component", "integration")
"""unit: no server; component: a throwaway server of its own; integration: the session stack."""
