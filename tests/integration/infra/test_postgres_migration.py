"""SQL migrations applied to the real PostgreSQL with asyncpg, the way the gateway does it."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import pytest

# A throwaway schema for this test only; the gateway owns the real migrations.
MIGRATION = """
CREATE TABLE {table} (
    job_id      uuid PRIMARY KEY,
    status      text NOT NULL CHECK (status IN ('pending', 'processing', 'completed')),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX {table}_status_idx ON {table} (status);
INSERT INTO {versions} (version) VALUES (1);
"""

BROKEN = """
ALTER TABLE {table} ADD COLUMN note text;
ALTER TABLE {table} ADD COLUMN oops no_such_type;
INSERT INTO {versions} (version) VALUES (2);
"""


async def _apply(conn: asyncpg.Connection, sql: str) -> None:
    # One transaction per migration: PostgreSQL DDL is transactional, so a failing migration
    # leaves nothing half-applied.
    async with conn.transaction():
        await conn.execute(sql)


async def test_migration_creates_a_working_table_and_a_failed_one_leaves_no_trace(
    postgres_dsn: str, unique_name: Callable[[str], str]
) -> None:
    suffix = unique_name("m").rsplit("-", 1)[-1]
    table, versions = f"jobs_{suffix}", f"schema_versions_{suffix}"
    conn = await asyncpg.connect(postgres_dsn)
    try:
        await conn.execute(f"CREATE TABLE {versions} (version int PRIMARY KEY)")
        await _apply(conn, MIGRATION.format(table=table, versions=versions))

        job_id = await conn.fetchval(
            f"INSERT INTO {table} (job_id, status) VALUES (gen_random_uuid(), 'pending') "
            "RETURNING job_id"
        )
        row = await conn.fetchrow(
            f"SELECT status, created_at FROM {table} WHERE job_id = $1", job_id
        )
        assert row is not None and row["status"] == "pending" and row["created_at"] is not None
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(f"INSERT INTO {table} (job_id, status) VALUES ($1, 'lost')", job_id)

        with pytest.raises(asyncpg.UndefinedObjectError):
            await _apply(conn, BROKEN.format(table=table, versions=versions))
        columns = await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = $1", table
        )
        assert {c["column_name"] for c in columns} == {"job_id", "status", "created_at"}
        assert await conn.fetchval(f"SELECT max(version) FROM {versions}") == 1
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {table}, {versions}")
        await conn.close()
