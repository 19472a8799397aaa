"""Deletes expired uploads and results, and marks their jobs `expired`.

Runs periodically in every gateway replica; each step is idempotent (deleting
a missing object is fine, marking an expired job again changes nothing).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import anyio.to_thread
import asyncpg

from tapmask_gateway.adapters import db
from tapmask_gateway.adapters.s3 import GatewayS3
from tapmask_gateway.domain.quotas import month_of
from tapmask_schemas.keys import attempts_key, cancel_key, masks_key, output_key

#: The workers that keep start counts under ``attempts/{service}/{job_id}``.
WORKERS = ("tracker", "renderer")

log = logging.getLogger("tapmask_gateway.cleanup")


async def _expire_batch(pool: asyncpg.Pool, s3: GatewayS3, now: datetime, batch: int) -> int:
    """Expire up to ``batch`` due jobs: their files, then their rows, in one transaction
    holding the rows, so replicas running this at once each take other jobs."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await db.claim_expired_jobs(conn, now, batch)
        if not rows:
            return 0
        keys: list[str] = []
        for row in rows:
            keys += [
                row["upload_key"],
                row["masks_key"] or masks_key(row["id"]),
                row["output_key"] or output_key(row["id"]),
                cancel_key(row["id"]),
                # A crashed stage's start count (tapmask_runtime.attempts).
                *(attempts_key(service, row["id"]) for service in WORKERS),
                # The upload the job was pinned from (its presigned POST could refill it).
                *([row["claimed_key"]] if row["claimed_key"] else []),
            ]
        await anyio.to_thread.run_sync(s3.delete, keys)
        await db.expire_jobs(conn, [row["id"] for row in rows])
    for row in rows:
        log.info("job expired; files deleted", extra={"job_id": str(row["id"])})
    return len(rows)


async def cleanup_once(
    pool: asyncpg.Pool, s3: GatewayS3, now: datetime | None = None, batch: int = 200
) -> int:
    """Expire what is due at `now`; returns how many jobs and unused uploads were removed.

    Runs until nothing is due, not one batch per interval: 200 jobs per 5 minutes fell
    behind the jobs a busy day creates, so data outlived its retention (issue 9)."""
    now = now or datetime.now(UTC)
    removed = 0
    while True:
        done = await _expire_batch(pool, s3, now, batch)
        removed += done
        if done < batch:
            break
    while True:
        unused = await db.expired_unused_uploads(pool, now, batch)
        if unused:
            await anyio.to_thread.run_sync(s3.delete, unused)
            await db.delete_upload_rows(pool, unused)
            removed += len(unused)
        if len(unused) < batch:
            break
    # Parts of uploads never completed: older than a day, nothing is still sending them.
    aborted = await anyio.to_thread.run_sync(s3.abort_stale_multipart, now - timedelta(days=1))
    if aborted:
        log.info("aborted %d incomplete multipart upload(s)", aborted)
    # Monthly counts (keyed by client address): only this month's decides the quota.
    await db.prune_usage(pool, month_of(now))
    # Kafka keeps a week of events by default: dedupe ids older than that can go.
    await db.prune_bookkeeping(pool, keep_days=14)
    # Sent job-created events hold the clicks: an hour after Kafka has them, they go.
    await db.prune_sent_outbox(pool, now - timedelta(hours=1))
    return removed


async def run_cleanup(pool: asyncpg.Pool, s3: GatewayS3, interval_s: float) -> None:
    while True:
        try:
            await cleanup_once(pool, s3)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("cleanup failed; will try again")
        await asyncio.sleep(interval_s)
