"""Worker processes: one per identity, ``python -m workers <identity>``."""

from workers.build import build_worker, run_worker

__all__ = ["build_worker", "run_worker"]
