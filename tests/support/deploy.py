"""Helpers the offline deployment tests share."""

from __future__ import annotations

from typing import Any

from orders.deploy import render


def compose_mounts(service: dict[str, Any]) -> dict[str, str]:
    """target -> source of a compose service's volumes (short or long syntax)."""
    out: dict[str, str] = {}
    for m in service.get("volumes", []):
        if isinstance(m, str):
            source, target = m.split(":")[:2]
            out[target] = source
        else:
            out[m["target"]] = m["source"]
    return out


COMPOSE: dict[str, Any] = render.load_compose()

SERVICES: dict[str, Any] = COMPOSE["services"]
