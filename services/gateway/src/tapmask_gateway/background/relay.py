"""The transactional outbox relay: rows committed with their job go to Kafka, then are marked.

A crash between publishing and marking re-sends the row later: consumers drop
the duplicate by event_id. Rows are locked with SKIP LOCKED, so several gateway
replicas share the work without sending a row twice at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import asyncpg
from faststream.kafka import KafkaBroker

from tapmask_gateway.adapters import db
from tapmask_runtime.tracing import job_span

log = logging.getLogger("tapmask_gateway.relay")


async def relay_once(
    pool: asyncpg.Pool, broker: KafkaBroker, batch: int = 100, topic_prefix: str = ""
) -> int:
    """Publish up to `batch` unsent rows; returns how many were sent. Rows hold the base
    topic name; `topic_prefix` (TAPMASK_KAFKA__TOPIC_PREFIX) is applied when sending."""
    failure: Exception | None = None
    async with pool.acquire() as conn, conn.transaction():
        rows = await db.claim_outbox(conn, batch)
        if not rows:
            return 0
        sent: list[int] = []
        for row in rows:
            payload = row["payload"]
            try:
                # The job's trace starts here (trace id = job id): the publish carries it on
                # in the message's headers (tapmask_runtime.tracing).
                with job_span(f"gateway publish {row['topic']}", payload["job_id"]):
                    await broker.publish(
                        json.dumps(payload).encode(),
                        topic=topic_prefix + row["topic"],
                        key=bytes(row["key"]),
                        headers={"content-type": "application/json"},
                        no_confirm=False,
                    )
                    log.info(  # inside the span: the line carries the job's trace id
                        "published %s",
                        payload.get("event_type"),
                        extra={
                            "job_id": payload.get("job_id"),
                            "event_id": payload.get("event_id"),
                        },
                    )
            except Exception as exc:
                # Stop here (later rows may be the same job's: order), but keep what went
                # out marked: a failure mid-batch re-sent every earlier row of the batch.
                failure = exc
                break
            sent.append(row["id"])
        if sent:
            await db.mark_sent(conn, sent)
    if failure is not None:
        raise failure
    return len(sent)


async def run_relay(
    pool: asyncpg.Pool,
    broker: KafkaBroker,
    wake: asyncio.Event,
    interval_s: float,
    topic_prefix: str = "",
) -> None:
    """Forever: send what is pending; sleep until woken by a new job or the interval passes."""
    while True:
        try:
            while await relay_once(pool, broker, topic_prefix=topic_prefix):
                pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("outbox relay failed; retrying")
            await asyncio.sleep(min(5.0, interval_s * 4))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=interval_s)
        wake.clear()
