"""Per-identity credential state for ``orders dev status``, read from the stack's Prometheus.

What an operator's dashboard shows, without one: for each identity, the Vault generation in
use, how many were issued, renewed, replaced, failed and refused, how long ago the last one
was issued or renewed, how long the current one has left, and how often its client
certificate and Temporal token were re-issued (or failed to be). Every number comes from
the series the processes export (:mod:`orders.observability.names`), over Prometheus's HTTP
API, so what ``status`` says is what Prometheus has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

import httpx
from rich.markup import escape
from rich.table import Table

from orders.observability import names

TIMEOUT_SECONDS: Final = 3.0

EVENTS: Final = (
    names.CREDENTIAL_ISSUED,
    names.CREDENTIAL_RENEWED,
    names.CREDENTIAL_REPLACED,
    names.CREDENTIAL_FAILED,
    names.CREDENTIAL_REFUSED,
)
"""Columns of the generation counters, in the order a generation lives them."""

COLUMNS: Final = (
    "identity",
    "gen",
    *EVENTS,
    "last renewal",
    "expires in",
    "cert renew/fail",
    "token renew/fail",
)
"""Columns of the table (short: it fits 160 characters with the longest identity)."""

QUERIES: Final = {
    "events": f"sum by (identity, event) ({names.CREDENTIAL_GENERATIONS}_total)",
    "generation": f"max by (identity) ({names.CREDENTIAL_GENERATION})",
    "left": f"max by (identity) ({names.CREDENTIAL_EXPIRY}) - time()",
    "age": f"time() - max by (identity) ({names.CREDENTIAL_RENEWED_AT})",
    "client": (
        f"sum by (identity, credential, event) ({names.CLIENT_CREDENTIAL_EVENTS_METRIC}_total)"
    ),
}
"""One PromQL query per kind of fact; each answer is a vector keyed by ``identity``."""


class PrometheusUnavailable(Exception):
    """Prometheus did not answer (down, or not yet up): the line ``status`` prints."""


@dataclass
class IdentityCredentials:
    """What Prometheus knows about one identity's credentials."""

    identity: str
    generation: int | None = None
    events: dict[str, int] = field(default_factory=dict)
    """Generation counters by event (issued, renewed, …)."""
    last_renewal_age: float | None = None
    """Seconds since the generation was last issued, renewed or replaced."""
    expires_in: float | None = None
    """Seconds the current generation has left unless renewed."""
    client: dict[tuple[str, str], int] = field(default_factory=dict)
    """Client certificate / Temporal token counters by (credential, event)."""


def _vector(http: httpx.Client, promql: str) -> list[tuple[dict[str, str], float]]:
    answer = http.get("/api/v1/query", params={"query": promql})
    answer.raise_for_status()
    body = answer.json()
    if body.get("status") != "success":
        raise PrometheusUnavailable(f"Prometheus refused a query: {body.get('error', '?')}")
    return [(r["metric"], float(r["value"][1])) for r in body["data"]["result"]]


def read(prometheus_url: str) -> list[IdentityCredentials]:
    """Every identity that exported a credential series, sorted by name.

    Raises:
        PrometheusUnavailable: Prometheus did not answer, or refused a query.
    """
    found: dict[str, IdentityCredentials] = {}

    def row(labels: dict[str, str]) -> IdentityCredentials:
        ident = labels.get(names.IDENTITY, names.OTHER)
        return found.setdefault(ident, IdentityCredentials(ident))

    try:
        with httpx.Client(base_url=prometheus_url, timeout=TIMEOUT_SECONDS) as http:
            answers = {kind: _vector(http, promql) for kind, promql in QUERIES.items()}
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        raise PrometheusUnavailable(
            f"Prometheus at {prometheus_url} is not answering ({type(exc).__name__}): "
            "no credential metrics"
        ) from None
    for labels, value in answers["events"]:
        row(labels).events[labels.get(names.EVENT, names.OTHER)] = round(value)
    for labels, value in answers["generation"]:
        row(labels).generation = round(value)
    for labels, value in answers["left"]:
        row(labels).expires_in = value
    for labels, value in answers["age"]:
        row(labels).last_renewal_age = value
    for labels, value in answers["client"]:
        key = (labels.get(names.CREDENTIAL, names.OTHER), labels.get(names.EVENT, names.OTHER))
        row(labels).client[key] = round(value)
    return [found[name] for name in sorted(found)]


def seconds(value: float | None) -> str:
    """``value`` seconds for a table cell: ``-`` unknown, ``expired`` when negative."""
    if value is None or math.isnan(value):
        return "-"
    if value < 0:
        return "expired"
    minutes, secs = divmod(round(value), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def client_cell(row: IdentityCredentials, credential: str) -> str:
    """``renewed/failed`` of one client credential, ``-`` when it has none."""
    if not any(c == credential for c, _ in row.client):
        return "-"
    renewed = row.client.get((credential, names.CREDENTIAL_RENEWED), 0)
    failed = row.client.get((credential, names.CREDENTIAL_FAILED), 0)
    return f"{renewed}/{failed}"


def table(rows: list[IdentityCredentials]) -> Table:
    """The credential table ``orders dev status`` prints."""
    out = Table(title="credentials (from Prometheus)")
    out.add_column("identity", no_wrap=True)
    for column in COLUMNS[1:]:
        out.add_column(column)
    for row in rows:
        out.add_row(
            row.identity,
            "-" if row.generation is None else str(row.generation),
            *(str(row.events.get(event, 0)) for event in EVENTS),
            "-" if row.last_renewal_age is None else f"{seconds(row.last_renewal_age)} ago",
            seconds(row.expires_in),
            client_cell(row, names.CLIENT_CERT),
            client_cell(row, names.TEMPORAL_TOKEN),
        )
    return out


def report(prometheus_url: str | None) -> list[str | Table]:
    """What ``orders dev status`` prints about credentials.

    The Prometheus URL, then the table, or one line saying why there is none (no
    Prometheus on this stack, or it does not answer).
    """
    if prometheus_url is None:
        return ["No Prometheus on this stack: no credential metrics."]
    try:
        rows = read(prometheus_url)
    except PrometheusUnavailable as exc:
        return [f"Prometheus: {prometheus_url}", f"[yellow]{escape(str(exc))}[/yellow]"]
    return [f"Prometheus: {prometheus_url}", table(rows)]
