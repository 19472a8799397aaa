"""At-least-once delivery of the workers' subscription (tapmask_runtime.worker.StageWorker, the
harness both workers run) on real Kafka: a job a worker was still busy with when it stopped is
handed to the next worker; a finished job is not handed out again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from uuid import uuid4

from faststream.kafka import KafkaBroker, KafkaRouter

from tapmask_runtime.kafka import make_broker
from tapmask_runtime.metrics import WorkerMetrics
from tapmask_runtime.settings import KafkaSettings, WorkerSettings
from tapmask_runtime.worker import JobContext, StageHandler, StageWorker
from tapmask_schemas import JobProgress, Stage
from tapmask_schemas import topics as t


def _event(percent: float) -> JobProgress:
    return JobProgress(job_id=uuid4(), stage=Stage.TRACKING, percent=percent)


def stage_worker(
    settings: KafkaSettings,
    prefix: str,
    group: str,
    handle: StageHandler[JobProgress],
    service: str = "delivery-test",
) -> tuple[KafkaBroker, StageWorker[JobProgress]]:
    """A broker with one StageWorker on ``prefix``+job-created, as build_worker_service wires
    it (its progress and failure topics under the same unique prefix)."""
    broker = make_broker(settings, graceful_timeout=1)
    router = KafkaRouter(prefix=prefix)
    worker = StageWorker(
        router,
        service=service,
        topic=t.JOB_CREATED,
        event_model=JobProgress,
        failure_stage=Stage.TRACKING,
        handle=handle,
        settings=WorkerSettings(group_id=group, shutdown_grace_s=0.0),
        kafka=settings,
        metrics=WorkerMetrics(service),
    )
    broker.include_router(router)
    return broker, worker


def _recording_worker(
    settings: KafkaSettings, prefix: str, group: str
) -> tuple[KafkaBroker, StageWorker[JobProgress], list[JobProgress]]:
    """A worker as ``_worker`` whose jobs finish at once, and the list of those it got."""
    handled: list[JobProgress] = []

    async def record(event: JobProgress, ctx: JobContext) -> None:
        handled.append(event)

    broker, worker = stage_worker(settings, prefix, group, record)
    return broker, worker, handled


async def test_unfinished_job_is_redelivered_and_finished_one_is_not(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_partitions=1)
    prefix, group = unique_name("delivery") + ".", unique_name("workers")
    topic = prefix + t.JOB_CREATED
    first, second = _event(1), _event(2)

    # Worker 1 takes the first job and is shut down in the middle of it (SIGTERM with no grace
    # left: the job is abandoned at its next progress update, its offset never committed).
    taken = asyncio.Event()

    async def stops_midway(event: JobProgress, ctx: JobContext) -> None:
        taken.set()
        while True:
            ctx.progress.update(Stage.TRACKING, 10.0)
            await asyncio.sleep(0.05)

    broker1, worker1 = stage_worker(settings, prefix, group, stops_midway)
    async with broker1:
        await broker1.start()
        await broker1.publish(first, topic, key=t.key_for(first.job_id))
        async with asyncio.timeout(30):
            await taken.wait()
        await worker1.shutdown()
    assert worker1.metrics.value("abandoned") == 1
    assert worker1.metrics.value("committed") == 0

    # Worker 2 in the same group gets the same job again and finishes it.
    broker2, worker2, done = _recording_worker(settings, prefix, group)
    async with broker2:
        await broker2.start()
        await _until(lambda: worker2.metrics.value("committed") == 1)
    assert done == [first]

    # Worker 3 sees only what came after: the finished job was committed.
    broker3, worker3, later = _recording_worker(settings, prefix, group)
    async with broker3:
        await broker3.start()
        await broker3.publish(second, topic, key=t.key_for(second.job_id))
        await _until(lambda: worker3.metrics.value("committed") == 1)
    assert later == [second]


async def _until(check: Callable[[], bool], within_s: float = 30.0) -> None:
    # Polling: the handlers run inside FastStream, which offers no completion hook to await.
    async with asyncio.timeout(within_s):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
