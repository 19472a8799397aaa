"""Projects worker events into the `jobs` table, so GET /api/jobs/{id} tells the truth.

One consumer group for all gateway replicas (each event applied once). The offset
is committed after the database transaction (AckPolicy.NACK_ON_ERROR: a database
error redelivers); duplicates are dropped by event_id inside that transaction, and
the pure state machine only moves a job forward.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError

from tapmask_gateway.adapters import db
from tapmask_gateway.domain.jobs import JobState, apply_event
from tapmask_runtime.kafka import consumer_lag as partition_lag
from tapmask_runtime.logging import job_context
from tapmask_schemas import parse_event, topics
from tapmask_schemas.events import Event

log = logging.getLogger("tapmask_gateway.projector")

PROJECTED_TOPICS = (topics.JOB_PROGRESS, topics.MASKS_READY, topics.VIDEO_READY, topics.JOB_FAILED)

OnChange = Callable[[JobState, JobState], None]


async def project(pool: asyncpg.Pool, event: Event, on_change: OnChange | None = None) -> bool:
    """Apply one event; True when the job's state changed."""
    async with pool.acquire() as conn, conn.transaction():
        changed = await db.project_event(
            conn, event.event_id, event.job_id, lambda state: apply_event(state, event)
        )
    if changed is None:
        return False
    before, after = changed
    log.info(
        "job %s: %s/%s -> %s/%s %.0f%%",
        event.job_id,
        before.status,
        before.stage,
        after.status,
        after.stage,
        after.percent,
        extra={"job_id": str(event.job_id), "event_id": str(event.event_id)},
    )
    if on_change is not None:
        on_change(before, after)
    return True


def register_projector(
    broker: KafkaBroker,
    pool: asyncpg.Pool,
    group_id: str,
    on_change: OnChange | None = None,
    topic_prefix: str = "",
) -> Any:
    """Subscribe the projector to the (prefixed) worker topics; returns the subscriber
    (its consumer gives the lag)."""
    subscriber = broker.subscriber(
        *(topic_prefix + t for t in PROJECTED_TOPICS),
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )

    @subscriber
    async def on_event(message: KafkaMessage) -> None:
        try:
            event = parse_event(message.body)
        except ValidationError as exc:
            # Not ours to dead-letter (the workers own their topics): skip it, loudly.
            log.error("skipping a message that is not a TapMask event: %s", exc.errors()[:1])
            return
        with job_context(event.job_id):
            await project(pool, event, on_change)

    return subscriber


async def consumer_lag(subscriber: Any) -> dict[str, int]:
    """Events on Kafka the projector has not read yet, per topic (empty before assignment)."""
    consumer = getattr(subscriber, "consumer", None)
    if consumer is None:
        return {}
    lag: dict[str, int] = {}
    for tp, behind in (await partition_lag(consumer)).items():
        lag[tp.topic] = lag.get(tp.topic, 0) + behind
    return lag
