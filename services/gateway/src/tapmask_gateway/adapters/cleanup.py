"""Deletes expired uploads and results, and marks their jobs `expired`.

Runs periodically in every gateway replica; each step is idempotent (deleting
a missing object is fine, marking an expired job again changes nothing).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import anyio.to_thread

from tapmask_gateway.adapters import db
from tapmask_gateway.context import Gateway
from tapmask_gateway.domain.uploads import masks_key, output_key

log = logging.getLogger("tapmask_gateway.cleanup")


async def cleanup_once(gw: Gateway, now: datetime | None = None, batch: int = 200) -> int:
    """Expire what is due at `now`; returns how many jobs and unused uploads were removed."""
    now = now or datetime.now(UTC)
    removed = 0
    for row in await db.expired_jobs(gw.db, now, batch):
        keys = [
            row["upload_key"],
            row["masks_key"] or masks_key(row["id"]),
            row["output_key"] or output_key(row["id"]),
            # The upload the job was pinned from (its presigned POST could refill it).
            *([row["claimed_key"]] if row["claimed_key"] else []),
        ]
        await anyio.to_thread.run_sync(gw.s3.delete, keys)
        await db.mark_expired(gw.db, row["id"])
        log.info("job expired; files deleted", extra={"job_id": str(row["id"])})
        removed += 1
    unused = await db.expired_unused_uploads(gw.db, now, batch)
    if unused:
        await anyio.to_thread.run_sync(gw.s3.delete, unused)
        await db.delete_upload_rows(gw.db, unused)
        removed += len(unused)
    # Kafka keeps a week of events by default: dedupe ids older than that can go.
    await db.prune_bookkeeping(gw.db, keep_days=14)
    return removed


async def run_cleanup(gw: Gateway, interval_s: float) -> None:
    while True:
        try:
            await cleanup_once(gw)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("cleanup failed; will try again")
        await asyncio.sleep(interval_s)
