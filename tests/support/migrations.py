"""Load one Alembic migration module by file name (to read the grants it declares)."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from orders.db.migrate import MIGRATIONS_DIR


def load_migration(name: str) -> ModuleType:
    """The migration ``versions/<name>`` as a module (not applied)."""
    path = MIGRATIONS_DIR / "versions" / name
    spec = importlib.util.spec_from_file_location(f"migration_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
