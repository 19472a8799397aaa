"""The gateway's PostgreSQL pool skips asyncpg's reset query on release (one round trip
less a request, bench_db_pool): a connection given back must still carry nothing of the
request that used it into the next one."""

from __future__ import annotations

from tapmask_gateway.adapters import db


async def test_a_connection_given_back_mid_transaction_is_rolled_back(postgres_dsn: str) -> None:
    pool = await db.create_pool(postgres_dsn, 1, 1)  # one connection: the next gets it
    try:
        await pool.execute("CREATE TEMP TABLE IF NOT EXISTS pool_probe (n int)")
        async with pool.acquire() as conn:
            await conn.execute("BEGIN")  # a transaction its user never ended
            await conn.execute("INSERT INTO pool_probe VALUES (1)")
            first = conn.get_server_pid()
        async with pool.acquire() as conn:
            assert conn.get_server_pid() == first  # the same session, reused
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM pool_probe") == 0
            # A timeout the previous user set for its transaction ended with it.
            async with conn.transaction():
                await conn.execute("SET LOCAL statement_timeout = 1")
            assert await conn.fetchval("SHOW statement_timeout") == "0"
    finally:
        await pool.close()
