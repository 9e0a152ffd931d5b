"""Fixtures for activity tests: a throwaway Postgres, migrated, with per-identity engines."""

import pytest

from tests.unit.activities.helpers import Engines
from tests.unit.db.pg_cluster import OrdersDb, orders_db, pg_cluster

__all__ = ["engines", "orders_db", "pg_cluster"]


@pytest.fixture(scope="session")
def engines(orders_db: OrdersDb) -> Engines:
    """Engines that connect as each identity's (restricted) database role."""
    return Engines(orders_db)
