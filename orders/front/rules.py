"""The front's rules: rendered from the identity contract, reviewed as a file, loaded at start.

``python -m orders.front.rules --write`` renders :data:`RULES_FILE` from
:func:`orders.contract.temporal_access.temporal_access` (identities), :func:`people_temporal_access`
(persons, by role) and the deployment principals (the Temporal UI, which looks, the
namespace-registration step, and KEDA's scaler, which reads the workers' backlogs). The
front enforces the *file*; a unit test checks the file equals the render, and the
authorization matrix test checks the running front against the contract, so widening either
side alone fails.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from orders import logging as olog
from orders.contract import identities, pki_names, temporal_access
from orders.contract.temporal_access import TemporalAccess, WorkflowGrant

log = olog.get(__name__)

RULES_FILE: Final = "rules.json"
"""Package data of :mod:`orders.front`: the rendered rules."""

PEOPLE_ROLES: Final = ("read", "write", "admin")
"""Roles of ``<namespace>:<role>`` permissions in people's tokens the front knows."""


@dataclass(frozen=True)
class Rules:
    """What every principal may do.

    Attributes:
        namespace: The only Temporal namespace any call may name.
        principals: Certificate principal (CN) -> its access; a CN not listed may do nothing.
        people: People's role -> its access (a person holds the union of their roles').
    """

    namespace: str
    principals: dict[str, TemporalAccess]
    people: dict[str, TemporalAccess]


def contract_rules() -> Rules:
    """The rules the contract implies."""
    principals = {
        ident.name: access
        for ident in identities.ALL
        if (access := temporal_access.temporal_access(ident)) != TemporalAccess()
    }
    principals[pki_names.TEMPORAL_UI_CERT_NAME] = temporal_access.people_temporal_access("read")
    principals[temporal_access.TEMPORAL_ADMIN_TOKEN_ROLE] = temporal_access.temporal_admin_access()
    principals[pki_names.KEDA_CERT_NAME] = temporal_access.keda_access()
    return Rules(
        namespace=identities.TEMPORAL_NAMESPACE,
        principals=principals,
        people={role: temporal_access.people_temporal_access(role) for role in PEOPLE_ROLES},
    )


def _grant_json(grant: WorkflowGrant) -> dict[str, Any]:
    return {
        "workflow_type": grant.workflow_type,
        "task_queue": grant.task_queue,
        "id_prefix": grant.id_prefix,
        "signals": list(grant.signals),
        "updates": list(grant.updates),
        "queries": list(grant.queries),
    }


def _access_json(access: TemporalAccess) -> dict[str, Any]:
    return {
        "poll_workflow_queues": list(access.poll_workflow_queues),
        "poll_activity_queues": list(access.poll_activity_queues),
        "start": [_grant_json(g) for g in access.start],
        "send": [_grant_json(g) for g in access.send],
        "query": [_grant_json(g) for g in access.query],
        "read": [_grant_json(g) for g in access.read],
        "list": access.list,
        "register_namespace": access.register_namespace,
        "describe_queues": list(access.describe_queues),
        "manage_deployments": access.manage_deployments,
    }


def to_json(rules: Rules) -> str:
    """The rules as the committed JSON file (stable order, one trailing newline)."""
    doc = {
        "namespace": rules.namespace,
        "principals": {n: _access_json(a) for n, a in sorted(rules.principals.items())},
        "people": {r: _access_json(a) for r, a in sorted(rules.people.items())},
    }
    return json.dumps(doc, indent=2) + "\n"


def _grant(doc: dict[str, Any]) -> WorkflowGrant:
    return WorkflowGrant(
        workflow_type=str(doc["workflow_type"]),
        task_queue=str(doc["task_queue"]),
        id_prefix=str(doc["id_prefix"]),
        signals=tuple(doc.get("signals", ())),
        updates=tuple(doc.get("updates", ())),
        queries=tuple(doc.get("queries", ())),
    )


def _access(doc: dict[str, Any]) -> TemporalAccess:
    return TemporalAccess(
        poll_workflow_queues=tuple(doc.get("poll_workflow_queues", ())),
        poll_activity_queues=tuple(doc.get("poll_activity_queues", ())),
        start=tuple(_grant(g) for g in doc.get("start", ())),
        send=tuple(_grant(g) for g in doc.get("send", ())),
        query=tuple(_grant(g) for g in doc.get("query", ())),
        read=tuple(_grant(g) for g in doc.get("read", ())),
        list=bool(doc.get("list", False)),
        register_namespace=bool(doc.get("register_namespace", False)),
        describe_queues=tuple(doc.get("describe_queues", ())),
        manage_deployments=bool(doc.get("manage_deployments", False)),
    )


def from_json(text: str) -> Rules:
    """Parse a rules file.

    Raises:
        ValueError: Not a rules document (names the missing part).
    """
    try:
        doc = json.loads(text)
        return Rules(
            namespace=str(doc["namespace"]),
            principals={str(n): _access(a) for n, a in doc["principals"].items()},
            people={str(r): _access(a) for r, a in doc["people"].items()},
        )
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a rules file: {type(exc).__name__}: {exc}") from None


def packaged_text() -> str:
    """The committed rules file shipped with the package."""
    return resources.files("orders.front").joinpath(RULES_FILE).read_text()


def load(path: Path | None = None) -> Rules:
    """Rules from ``path``, or the packaged file."""
    return from_json(path.read_text() if path is not None else packaged_text())


class RulesFile:
    """The rules in force, re-read when their file changes (checked every few seconds).

    ``orders dev apply`` rewrites the dev stack's rules file from the current contract, so
    an identity added with ``orders new`` is admitted without restarting the front. A file
    that does not parse is logged and the previous rules stay in force.
    """

    def __init__(self, path: Path | None, check_seconds: float = 2.0) -> None:
        self.path = path
        self.check_seconds = check_seconds
        self._rules = load(path)
        self._stamp = path.stat().st_mtime if path is not None else 0.0
        self._checked = time.monotonic()

    def current(self) -> Rules:
        """The rules, re-read if the file changed since the last look."""
        now = time.monotonic()
        if self.path is None or now - self._checked < self.check_seconds:
            return self._rules
        self._checked = now
        try:
            stamp = self.path.stat().st_mtime
            if stamp != self._stamp:
                self._rules, self._stamp = load(self.path), stamp
                log.info("front.rules.reloaded", principals=len(self._rules.principals))
        except (OSError, ValueError) as exc:
            log.warning("front.rules.unreadable", error=type(exc).__name__)
        return self._rules


def write(path: Path | None = None) -> Path | None:
    """Write the contract's rules to ``path`` (default: the package's file) if they differ.

    Returns:
        The file written, or None when it already held them.
    """
    target = path if path is not None else Path(__file__).parent / RULES_FILE
    text = to_json(contract_rules())
    if target.exists() and target.read_text() == text:
        return None
    target.write_text(text)
    return target


def install(path: Path) -> None:
    """Put the packaged (reviewed, committed) rules where a running front reads them."""
    text = packaged_text()
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    """Print the rendered rules, or write them into the package (``--write``)."""
    ap = argparse.ArgumentParser(description="Render the front's rules from the contract.")
    ap.add_argument("--write", action="store_true", help="write orders/front/rules.json")
    args = ap.parse_args(argv)
    if args.write:
        write()
    else:
        print(to_json(contract_rules()), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
