"""Fixtures for database tests: a throwaway Postgres, bootstrapped and migrated."""

from tests.unit.db.pg_cluster import orders_db, pg_cluster

__all__ = ["orders_db", "pg_cluster"]
