"""At-least-once delivery of the workers' subscriptions (tapmask_runtime.kafka) on real Kafka:
a job a worker was still busy with when it died is handed to the next worker; a finished job
is not handed out again."""

# No `from __future__ import annotations`: FastStream reads handler annotations at runtime.
import asyncio
from collections.abc import Callable
from uuid import uuid4

from tapmask_runtime.kafka import make_broker, worker_subscriber
from tapmask_runtime.settings import KafkaSettings
from tapmask_schemas import JobProgress, Stage
from tapmask_schemas import topics as t


def _event(percent: float) -> JobProgress:
    return JobProgress(job_id=uuid4(), stage=Stage.TRACKING, percent=percent)


async def test_unfinished_job_is_redelivered_and_finished_one_is_not(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_partitions=1)
    topic, group = unique_name(t.JOB_CREATED), unique_name("workers")
    first, second = _event(1), _event(2)

    # Worker 1 takes the first job and dies in the middle of it.
    taken = asyncio.Event()
    worker1 = make_broker(settings, graceful_timeout=1)

    @worker_subscriber(worker1, topic, group_id=group, settings=settings)
    async def dies_midway(event: JobProgress) -> None:
        taken.set()
        await asyncio.Event().wait()  # never finishes; cancelled when the worker stops

    async with worker1:
        await worker1.start()
        await worker1.publish(first, topic, key=t.key_for(first.job_id))
        async with asyncio.timeout(30):
            await taken.wait()

    # Worker 2 in the same group gets the same job again and finishes it.
    done: list[JobProgress] = []
    worker2 = make_broker(settings)

    @worker_subscriber(worker2, topic, group_id=group, settings=settings)
    async def finishes(event: JobProgress) -> None:
        done.append(event)

    async with worker2:
        await worker2.start()
        await _until(lambda: len(done) == 1)
    assert done == [first]

    # Worker 3 sees only what came after: the finished job was committed.
    later: list[JobProgress] = []
    worker3 = make_broker(settings)

    @worker_subscriber(worker3, topic, group_id=group, settings=settings)
    async def next_worker(event: JobProgress) -> None:
        later.append(event)

    async with worker3:
        await worker3.start()
        await worker3.publish(second, topic, key=t.key_for(second.job_id))
        await _until(lambda: len(later) == 1)
    assert later == [second]


async def _until(check: Callable[[], bool], within_s: float = 30.0) -> None:
    # Polling: the handlers run inside FastStream, which offers no completion hook to await.
    async with asyncio.timeout(within_s):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
