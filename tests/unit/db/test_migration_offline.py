"""The migrations rendered as SQL (no server): role first, grants literal, nothing dropped."""

from __future__ import annotations

import io
import re

from alembic import command

from orders.contract import identities
from orders.db.migrate import alembic_config, async_url


def _script() -> str:
    buffer = io.StringIO()
    cfg = alembic_config()
    cfg.output_buffer = buffer
    cfg.set_main_option("sqlalchemy.url", "postgresql+asyncpg://nobody@127.0.0.1/orders")
    command.upgrade(cfg, "head", sql=True)
    return buffer.getvalue()


def test_set_role_comes_before_any_object_is_created() -> None:
    sql = _script()
    set_role = sql.index(f'SET ROLE "{identities.ORDER_MIGRATE.db_group}"')
    assert set_role < sql.index("CREATE TABLE")
    assert set_role < sql.index("GRANT")
    assert "pg_advisory_xact_lock" in sql


def test_script_creates_every_table_and_never_deletes() -> None:
    sql = _script()
    created = set(re.findall(r"CREATE TABLE orders\.(\w+)", sql))
    assert created == {*identities.TABLES, "alembic_version"}
    for forbidden in ("DROP ", "DELETE ", "TRUNCATE ", "GRANT ALL", "TO PUBLIC"):
        assert forbidden not in sql


def test_async_url_accepts_every_spelling() -> None:
    for dsn in (
        "postgres://u:p@h:5/db",
        "postgresql://u:p@h:5/db",
        "postgresql+asyncpg://u:p@h:5/db",
    ):
        assert async_url(dsn) == "postgresql+asyncpg://u:p@h:5/db"
    assert async_url("postgresql://u:p%40x@h/db") == "postgresql+asyncpg://u:p%40x@h/db"
