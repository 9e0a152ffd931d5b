"""Worker processes: one per identity, ``python -m workers <identity>``.

The exports are loaded on first use so that ``python -m workers.probe`` (run every few
seconds by the kubelet) does not import Temporal, SQLAlchemy and the activities.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workers.build import build_worker, run_worker

__all__ = ["build_worker", "run_worker"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from workers import build

        return getattr(build, name)
    raise AttributeError(f"module 'workers' has no attribute {name!r}")
