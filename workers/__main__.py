"""``python -m workers <identity>``: run the worker of one identity."""

from __future__ import annotations

import asyncio
import sys

from orders.contract import identities
from workers.build import run_worker


def main(argv: list[str]) -> int:
    """Entry point; returns the process exit code."""
    names = [i.name for i in identities.workers()]
    if len(argv) != 1 or argv[0] not in names:
        print(f"usage: python -m workers <identity>; one of: {', '.join(names)}", file=sys.stderr)
        return 2
    return asyncio.run(run_worker(identities.get(argv[0])))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
