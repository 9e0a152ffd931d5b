"""The committed golden histories: where they are and how to read one.

``tests/unit/workflows/histories/<release>/`` (beside the replay tests) holds one JSON
history per path of the saga and a ``manifest.json`` with each one's workflow id (a replay
must be given it) and outcome; ``record_histories.py`` writes them (``make histories``).
Every release's set stays and is replayed against the current workflow code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from temporalio.client import WorkflowHistory

HISTORIES: Final = Path(__file__).resolve().parents[1] / "unit" / "workflows" / "histories"
MANIFEST: Final = "manifest.json"
NAMESPACE: Final = "orders-unit"
"""The Temporal namespace the workflow tests and the recordings run in (a replay needs it)."""
RELEASE: Final = "v2"
"""The release whose set ``make histories`` records (bump it when a release is cut)."""
PATHS: Final = (
    "completed",
    "out_of_stock",
    "declined",
    "refund_undeliverable",
    "approval_accepted",
    "approval_rejected",
    "approval_expired",
    "worker_restarted",
)
"""Every path a release's set holds (``test_golden_histories`` checks the current one)."""


@dataclass(frozen=True)
class Golden:
    """One committed history."""

    release: str
    name: str
    workflow_id: str
    outcome: str

    @property
    def path(self) -> Path:
        """Its JSON file."""
        return HISTORIES / self.release / f"{self.name}.json"

    def history(self, workflow_id: str | None = None) -> WorkflowHistory:
        """The history, for its own workflow id (or ``workflow_id``, for controls)."""
        return WorkflowHistory.from_json(workflow_id or self.workflow_id, self.path.read_text())

    def __str__(self) -> str:
        return f"{self.release}/{self.name}"


def releases() -> list[str]:
    """Every release with a recorded set, oldest name first (not a recording under way)."""
    manifests = HISTORIES.glob(f"*/{MANIFEST}")
    return sorted(p.parent.name for p in manifests if not p.parent.name.startswith("."))


def committed(release: str | None = None) -> list[Golden]:
    """Every committed history (of ``release`` only, if given), as the manifests list them."""
    found: list[Golden] = []
    for rel in [release] if release else releases():
        manifest = json.loads((HISTORIES / rel / MANIFEST).read_text())
        found.extend(
            Golden(rel, name, entry["workflow_id"], entry["outcome"])
            for name, entry in manifest["histories"].items()
        )
    return found


def explain(what: Golden | Path, failure: BaseException) -> str:
    """Why a committed history no longer replays: the SDK's reason, which names the event.

    Args:
        what: The history (a golden one, or the path of an older fixture).
        failure: The replay failure.
    """
    found = re.search(r'message: "(.*?)", source:', str(failure))
    reason = found.group(1) if found else str(failure)
    path = what.path if isinstance(what, Golden) else what
    return (
        f"{path.relative_to(HISTORIES.parent)} no longer replays: {reason}\n"
        "Gate the change with workflow.patched() (docs/evolving-workflows.md)."
    )
