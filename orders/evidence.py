"""Evidence the demo prints and the tests assert: read from Temporal history and Postgres.

Nothing here trusts the application's own claims: which queue an activity was scheduled
on and which worker identity picked it up come from the workflow history; which database
user wrote a row, and which group that user belongs to, come from Postgres itself.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from orders.contract import identities


@dataclass(frozen=True)
class ActivityRun:
    """One activity execution as the history records it."""

    activity: str
    task_queue: str
    worker_identity: str
    attempt: int
    failed: bool

    @property
    def expected_queue(self) -> str:
        """The queue the identity contract assigns to this activity."""
        return identities.activity_identity(self.activity).task_queue


async def activity_runs(client: Client, workflow_id: str) -> list[ActivityRun]:
    """Activities of a workflow with their queue and the worker that ran them."""
    handle = client.get_workflow_handle(workflow_id)
    scheduled: dict[int, tuple[str, str]] = {}
    started: dict[int, tuple[str, int]] = {}
    outcome: dict[int, bool] = {}
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            scheduled[event.event_id] = (attrs.activity_type.name, attrs.task_queue.name)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            s = event.activity_task_started_event_attributes
            started[s.scheduled_event_id] = (s.identity, s.attempt)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            outcome[event.activity_task_completed_event_attributes.scheduled_event_id] = False
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            outcome[event.activity_task_failed_event_attributes.scheduled_event_id] = True
    runs = []
    for event_id, (activity, queue) in scheduled.items():
        worker, attempt = started.get(event_id, ("", 0))
        runs.append(ActivityRun(activity, queue, worker, attempt, outcome.get(event_id, False)))
    return runs


GROUPS_OF_SQL = (
    "SELECT string_agg(g.rolname, ',' ORDER BY g.rolname) FROM pg_auth_members m "
    "JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member "
    "WHERE u.rolname = {role}"
)
"""Group roles a login role belongs to (comma-separated): shows which identity it acts as."""


@dataclass(frozen=True)
class Writer:
    """A row's writer: the Vault-issued login and the group role it belongs to."""

    table: str
    db_user: str
    groups: str


WRITERS_SQL = f"""
SELECT t.tbl AS table, t.written_by AS db_user,
       coalesce(({GROUPS_OF_SQL.format(role="t.written_by")}), '(role dropped)') AS groups
FROM (
  SELECT 'orders' AS tbl, written_by FROM orders.orders WHERE id = $1
  UNION ALL SELECT 'order_items', written_by FROM orders.order_items WHERE order_id = $1
  UNION ALL SELECT 'reservations', written_by FROM orders.reservations WHERE order_id = $1
  UNION ALL SELECT 'payments', written_by FROM orders.payments WHERE order_id = $1
  UNION ALL SELECT 'shipments', written_by FROM orders.shipments WHERE order_id = $1
  UNION ALL SELECT 'notifications', written_by FROM orders.notifications WHERE order_id = $1
) t
GROUP BY 1, 2
ORDER BY 1
"""


async def writers(admin_dsn: str, order_id: str) -> list[Writer]:
    """Who wrote (or last updated) each row of an order, per table."""
    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        rows = await conn.fetch(WRITERS_SQL, order_id)
    finally:
        await conn.close()
    return [Writer(r["table"], r["db_user"], r["groups"]) for r in rows]


@dataclass(frozen=True)
class Session:
    """A live Postgres session of a worker."""

    identity: str
    db_user: str
    groups: str
    connections: int


SESSIONS_SQL = f"""
SELECT a.application_name AS identity, a.usename AS db_user,
       coalesce(({GROUPS_OF_SQL.format(role="a.usename")}), '') AS groups,
       count(*) AS connections
FROM pg_stat_activity a
WHERE a.usename LIKE 'v-%'
GROUP BY 1, 2
ORDER BY 1, 2
"""


async def sessions(admin_dsn: str) -> list[Session]:
    """Live worker sessions: identity (application_name), Vault-issued user, group."""
    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        rows = await conn.fetch(SESSIONS_SQL)
    finally:
        await conn.close()
    return [Session(r["identity"], r["db_user"], r["groups"], r["connections"]) for r in rows]


@dataclass(frozen=True)
class DecodedEvent:
    """One history event with its payloads decoded (as the given client's identity)."""

    event_id: int
    event_type: str
    payloads: list[object]


_PAYLOAD_FIELDS = (
    ("workflow_execution_started_event_attributes", "input"),
    ("workflow_execution_completed_event_attributes", "result"),
    ("activity_task_scheduled_event_attributes", "input"),
    ("activity_task_completed_event_attributes", "result"),
    ("workflow_execution_signaled_event_attributes", "input"),
)


async def decoded_history(client: Client, workflow_id: str) -> list[DecodedEvent]:
    """Events carrying payloads, decoded through ``client``'s codec."""
    handle = client.get_workflow_handle(workflow_id)
    out: list[DecodedEvent] = []
    async for event in handle.fetch_history_events():
        for attr, field_name in _PAYLOAD_FIELDS:
            if not event.HasField(attr):  # type: ignore[arg-type]
                continue
            payloads = getattr(getattr(event, attr), field_name).payloads
            values = await client.data_converter.decode(list(payloads)) if payloads else []
            name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
            out.append(DecodedEvent(event.event_id, name, list(values)))
    return out


def raw_history_json(connection: Sequence[str], workflow_id: str) -> str:
    """The history as anyone with Temporal read access sees it: ``temporal workflow show``.

    Uses the CLI bundled with the dev server, with no codec: this is the stored form.

    Args:
        connection: The CLI's connection flags (address, namespace, TLS), e.g. from
            :func:`orders.devstack.actas.temporal_cli_args`.
        workflow_id: Whose history.
    """
    cli = Path(sys.executable).parent / "temporal"
    done = subprocess.run(
        [str(cli), "workflow", "show", "-w", workflow_id, "-o", "json", *connection],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout
