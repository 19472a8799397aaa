"""Kafka side of the notifier: job-progress, video-ready and job-failed into the hub.

Every notifier replica reads every event (a consumer group of its own, per process)
and, on partition assignment, rewinds to the last ``history_s`` seconds so it knows
the current state of recent jobs right after a (re)start. It never commits offsets.

``handlers.py`` means one thing in every service: what it does with a Kafka message (here,
fan it out; in the tracker and renderer, run the job's stage). HTTP endpoints live in
``controllers/`` (Litestar's "route handlers"), never in a handlers module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from pydantic import ValidationError

from tapmask_notifier.hub import Hub
from tapmask_notifier.ids import EventKey
from tapmask_schemas import JobFailed, JobProgress, JobStatus, Stage, VideoReady, parse_event
from tapmask_schemas.updates import JobUpdate

log = logging.getLogger("tapmask.notifier")


def sse_data(event: Any, last_percent: float) -> tuple[JobUpdate, bool] | None:
    """What the job's stream shows for an event (status, stage, percent...) and whether it
    is final; None for events a client need not see."""
    base = {
        "job_id": event.job_id,
        "event_type": event.event_type,
        "occurred_at": event.occurred_at,
    }
    if isinstance(event, JobProgress):
        update = JobUpdate(
            **base,
            status=event.status,
            stage=event.stage,
            percent=event.percent,
            message=event.message,
            eta_seconds=event.eta_seconds,
        )
        return update, event.status.is_final
    if isinstance(event, VideoReady):
        update = JobUpdate(
            **base,
            status=JobStatus.COMPLETED,
            stage=Stage.DONE,
            percent=100.0,
            message="Your video is ready",
            size_bytes=event.size_bytes,
            duration_seconds=event.duration_seconds,
        )
        return update, True
    if isinstance(event, JobFailed):
        status = JobStatus.PROCESSING if event.retryable else JobStatus.FAILED
        update = JobUpdate(
            **base,
            status=status,
            stage=event.stage,
            percent=last_percent,
            message=event.reason,
            reason=event.reason,
        )
        return update, not event.retryable
    return None


def apply_event(hub: Hub, body: bytes) -> str | None:
    """Parse one Kafka message and publish it to the hub: the job status it fanned
    out, or None when ignored (not an event, a duplicate, after the final one, older
    than the job's ring)."""
    try:
        event = parse_event(body)
    except ValidationError as exc:
        log.warning("ignoring a message that is not a TapMask event: %s", exc.errors()[0]["msg"])
        return None
    key = EventKey.of(event.occurred_at, event.event_id)
    # The state just before this event, not the latest arrival: the same on every replica.
    before = hub.before(event.job_id, key)
    mapped = sse_data(event, float(before.data.get("percent", 0.0)) if before else 0.0)
    if mapped is None:
        return None
    update, final = mapped
    if not hub.publish(event.job_id, event.event_id, key, update.data(), final):
        return None
    return update.status.value


class ReplayRecent(ConsumerRebalanceListener):  # type: ignore[misc]
    """On assignment, seek every partition to the first offset of the last ``history_s``."""

    def __init__(self, consumer: Callable[[], AIOKafkaConsumer | None], history_s: float):
        self._consumer = consumer
        self._history_s = history_s

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        consumer = self._consumer()
        if consumer is None or not assigned:
            return
        since_ms = int((time.time() - self._history_s) * 1000)
        found = await consumer.offsets_for_times({tp: since_ms for tp in assigned})
        for tp in assigned:
            hit = found.get(tp)
            if hit is None:  # nothing that recent: only new events
                await consumer.seek_to_end(tp)
            else:
                consumer.seek(tp, hit.offset)
