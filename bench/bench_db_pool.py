"""The gateway's PostgreSQL pool under bursts of requests, against asyncpg's default pool.

Every gateway request that reads the database holds a pooled connection for its query; by
default asyncpg also runs a reset query (``SELECT pg_advisory_unlock_all(); CLOSE ALL;
UNLISTEN *; RESET ALL``) on each release, before the request may answer, a second round
trip (issue 9 item 11: a burst of new visitors waits). This measures bursts of 128
one-row queries at once through a pool of 10 (the gateway's default size): the gateway's
pool (``tapmask_gateway.adapters.db.create_pool``) and, in the same run, alternately, a
default asyncpg pool as the baseline.

Prints JSON: per pool the wall time of all bursts, p50/p99 of a query's latency (ms) and
the client's CPU ms per query (the steadier figure on a shared machine), and the load
average.

Run: .venv/bin/python bench/bench_db_pool.py [--bursts 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.measured import tracker_source  # noqa: E402
from deploy.local import stack  # noqa: E402
from tapmask_gateway.adapters import db  # noqa: E402

BURST = 128
POOL = 10


async def _bursts(pool: asyncpg.Pool, bursts: int) -> tuple[float, float, list[float]]:
    latencies: list[float] = []

    async def one() -> None:
        began = time.perf_counter()
        await pool.fetchrow("SELECT 1 AS x, now() AS t")
        latencies.append((time.perf_counter() - began) * 1000)

    await asyncio.gather(*(one() for _ in range(50)))  # every connection opened and warm
    latencies.clear()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(bursts):
        await asyncio.gather(*(one() for _ in range(BURST)))
    return time.perf_counter() - wall, time.process_time() - cpu, latencies


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    load = os.getloadavg()[0]
    dsn = (await asyncio.to_thread(stack.up))["TAPMASK_DATABASE__URL"]
    runs: dict[str, list[tuple[float, float, list[float]]]] = {"gateway": [], "asyncpg": []}
    for round_ in range(args.rounds):  # alternated, first one then the other, so both
        for name in list(runs)[:: 1 if round_ % 2 == 0 else -1]:  # see the same machine
            if name == "gateway":
                pool = await db.create_pool(dsn, POOL, POOL)
            else:
                made = await asyncpg.create_pool(dsn, min_size=POOL, max_size=POOL)
                assert made is not None
                pool = made
            try:
                runs[name].append(await _bursts(pool, args.bursts))
            finally:
                await pool.close()
    out: dict[str, Any] = {}
    for name, got in runs.items():
        ms = [t for _, _, lat in got for t in lat]
        q = statistics.quantiles(ms, n=100, method="inclusive")
        out[name] = {
            "queries": len(ms),
            "wall_s": round(sum(w for w, _, _ in got), 3),
            "p50_ms": round(q[49], 2),
            "p99_ms": round(q[98], 2),
            "client_cpu_ms_per_query": round(sum(c for _, c, _ in got) * 1000 / len(ms), 3),
        }
    return {
        "benchmark": "db_pool",
        "code": tracker_source(),
        "machine": f"{os.cpu_count()} cores, PostgreSQL on loopback",
        "load_average_at_start": load,
        "load_average_at_end": os.getloadavg()[0],
        "bursts": f"{args.rounds} x {args.bursts} bursts of {BURST} queries, pool of {POOL}",
        "gateway_pool": out["gateway"],
        "baseline_asyncpg_default_pool": out["asyncpg"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bursts", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    print(json.dumps(asyncio.run(main_async(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
