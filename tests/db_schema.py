"""A schema of its own in the shared PostgreSQL, for one test session, fixture or benchmark
run: its tables never meet another run's (or a `make up` stack's) in the same database.

Importable by every test (``tests/`` is on the path of the tests, beside the root
conftest) and by the benchmarks (``from tests.db_schema import new_schema``)."""

from __future__ import annotations

import uuid

import asyncpg


async def new_schema(postgres_dsn: str, prefix: str = "gw_test") -> str:
    """A fresh, empty schema named ``{prefix}_<random>``; returns the DSN whose
    ``search_path`` puts a service's tables in it."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(postgres_dsn)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    sep = "&" if "?" in postgres_dsn else "?"
    return f"{postgres_dsn}{sep}search_path={schema}"
