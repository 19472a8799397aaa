"""Every TapMask event through the real Kafka broker with FastStream, as the services use it."""

# No `from __future__ import annotations`: FastStream reads the handlers' annotations at
# subscribe time, and one handler below is typed with a loop variable.
import asyncio
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

from faststream.kafka.annotations import KafkaMessage

from tapmask_runtime.kafka import declared_topic, ensure_topics, make_broker
from tapmask_runtime.settings import KafkaSettings
from tapmask_schemas import (
    ClickPoint,
    Effect,
    Event,
    JobCreated,
    JobFailed,
    JobProgress,
    MasksReady,
    ProcessingMode,
    Stage,
    VideoInfo,
    VideoReady,
    parse_event,
)
from tapmask_schemas import topics as t

VIDEO = VideoInfo(
    width=854, height=480, frame_count=70, duration_seconds=2.8, fps=25.0, has_audio=False
)


def one_of_each(job_id: UUID) -> list[tuple[str, Event]]:
    """(topic, event) for every event model, as the pipeline would emit them for one job."""
    return [
        (
            t.JOB_CREATED,
            JobCreated(
                job_id=job_id,
                upload_key=f"uploads/{job_id}.mp4",
                mode=ProcessingMode.PRIVACY,
                effect=Effect.PIXELATE,
                points=[ClickPoint(x=412.5, y=230.0), ClickPoint(x=10, y=10, positive=False)],
                video=VIDEO,
            ),
        ),
        (
            t.JOB_PROGRESS,
            JobProgress(
                job_id=job_id, stage=Stage.TRACKING, percent=42.5, message="tracking", eta_seconds=3
            ),
        ),
        (
            t.MASKS_READY,
            MasksReady(
                job_id=job_id,
                upload_key=f"uploads/{job_id}.mp4",
                masks_key=f"masks/{job_id}.tmask",
                mode=ProcessingMode.MAGIC_ERASER,
                video=VIDEO,
                frames_with_object=68,
                tracker_backend="cpu",
            ),
        ),
        (
            t.VIDEO_READY,
            VideoReady(
                job_id=job_id,
                output_key=f"outputs/{job_id}.mp4",
                size_bytes=123_456,
                duration_seconds=2.8,
            ),
        ),
        (
            t.JOB_FAILED,
            JobFailed(
                job_id=job_id,
                stage=Stage.RENDERING,
                reason="encoder ran out of disk",
                retryable=True,
            ),
        ),
    ]


async def _until(check: Callable[[], bool], within_s: float = 30.0) -> None:
    # Polling: the handlers run inside FastStream, which offers no completion hook to await.
    async with asyncio.timeout(within_s):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_each_event_round_trips_keyed_by_its_job(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    job_id = uuid4()
    sent = one_of_each(job_id)
    topic_of = {base: unique_name(base) for base, _ in sent}
    received: dict[str, tuple[Any, bytes | None, bytes]] = {}

    broker = make_broker(KafkaSettings(bootstrap_servers=kafka_bootstrap))
    group = unique_name("roundtrip")

    def subscribe(base: str, model: type[Event]) -> None:
        # The handler is typed with the model: FastStream validates the body into it.
        @broker.subscriber(topic_of[base], group_id=group, auto_offset_reset="earliest")
        async def handle(event: model, msg: KafkaMessage) -> None:  # type: ignore[valid-type]
            received[base] = (event, msg.raw_message.key, msg.body)  # type: ignore[union-attr]

    for base, event in sent:
        subscribe(base, type(event))

    async with broker:
        await broker.start()
        for base, event in sent:
            await broker.publish(event, topic_of[base], key=t.key_for(event.job_id))
        await _until(lambda: len(received) == len(sent))

    for base, event in sent:
        decoded, key, body = received[base]
        assert type(decoded) is type(event)
        assert decoded == event
        assert key == str(job_id).encode()
        # What a non-FastStream consumer would do with the raw bytes.
        assert parse_event(body) == event


async def test_events_of_one_job_arrive_in_the_order_they_were_sent(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name(t.JOB_PROGRESS)
    # Spread over the topic's partitions by key: all 12 on one of 3 by chance is 1 in 177k
    # (with 6 it was 1 in 243, and it happened in a make test run).
    jobs = [uuid4() for _ in range(12)]
    steps = 15
    seen: dict[UUID, list[float]] = {job: [] for job in jobs}
    partitions: dict[UUID, set[int]] = {job: set() for job in jobs}

    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_partitions=3)
    # Made as a service's start-up makes it, before anything can auto-create it with the
    # broker's single partition.
    await ensure_topics(settings, [topic])
    broker = make_broker(settings)

    @broker.subscriber(
        declared_topic(topic, settings), group_id=unique_name("order"), auto_offset_reset="earliest"
    )
    async def handle(event: JobProgress, msg: KafkaMessage) -> None:
        seen[event.job_id].append(event.percent)
        partitions[event.job_id].add(msg.raw_message.partition)  # type: ignore[union-attr]

    async with broker:
        await broker.start()
        publisher = broker.publisher(topic)
        # Interleave jobs and don't wait for each ack, as a busy worker would: the producer
        # pipelines the sends and must still keep each key's order.
        pending = [
            await publisher.publish(
                JobProgress(job_id=job, stage=Stage.RENDERING, percent=100 * i / steps),
                key=t.key_for(job),
                no_confirm=True,
            )
            for i in range(steps)
            for job in jobs
        ]
        await asyncio.gather(*pending)
        await _until(lambda: all(len(v) == steps for v in seen.values()))

    expected = [100 * i / steps for i in range(steps)]
    for job in jobs:
        assert seen[job] == expected
        assert len(partitions[job]) == 1  # one key, one partition
    assert len(set().union(*partitions.values())) > 1, "test meant to span several partitions"
