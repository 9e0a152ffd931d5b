"""Fixtures for database tests: a throwaway Postgres, bootstrapped and migrated."""

from tests.support.postgres import orders_db, pg_cluster

__all__ = ["orders_db", "pg_cluster"]
