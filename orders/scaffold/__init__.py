"""``orders new activity|workflow``: scaffold a new identity from the contract."""

from orders.scaffold.generate import (
    ScaffoldError,
    plan_activity,
    plan_workflow,
    render_derived,
    tidy,
)
from orders.scaffold.tables import TablesError, parse_tables

__all__ = [
    "ScaffoldError",
    "TablesError",
    "parse_tables",
    "plan_activity",
    "plan_workflow",
    "render_derived",
    "tidy",
]
