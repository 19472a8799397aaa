"""A worker gives its group a committed offset on every partition it is assigned, on real
Kafka (tapmask_runtime.worker): KEDA scales the workers on the group's lag, and reads a
partition without a committed offset (`offsetResetPolicy: earliest`) as lagging by its whole
history, deleted events included (kedacore/keda#7936; fixed only in recent releases).

Kafka forgets an idle group's offsets (offsets.retention.minutes, 7 days by default) while
the events are gone after 22 h: a worker scaled to zero for a week is then woken, finds
nothing to consume, so commits nothing, and would be held at its maximum replicas (spot GPU
nodes, for the tracker) for good. Here the forgotten group is a fresh one, on a topic whose
events retention has deleted (DeleteRecords, as retention does)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from uuid import uuid4

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic, RecordsToDelete
from test_kafka_delivery import stage_worker

from tapmask_runtime.settings import KafkaSettings
from tapmask_runtime.worker import JobContext
from tapmask_schemas import JobProgress, Stage
from tapmask_schemas import topics as t

PARTITIONS = 2


async def test_a_group_whose_events_were_deleted_commits_where_it_starts(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_partitions=PARTITIONS)
    prefix, group = unique_name("startoffsets") + ".", unique_name("workers")
    topic = prefix + t.JOB_CREATED
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
        # Events of jobs done long ago, on both partitions, since deleted by retention.
        for p in range(PARTITIONS):
            for i in range(3):
                await producer.send_and_wait(topic, b"{}", key=b"k%d" % i, partition=p)
        ends = await _log_ends(kafka_bootstrap, partitions)
        await admin.delete_records({tp: RecordsToDelete(ends[tp]) for tp in partitions})
        assert all(ends[tp] == 3 for tp in partitions)

        handled: list[JobProgress] = []
        got = asyncio.Event()

        async def record(event: JobProgress, ctx: JobContext) -> None:
            handled.append(event)
            got.set()

        broker, worker = stage_worker(settings, prefix, group, record, "start-offsets-test")
        async with broker:
            await broker.start()
            # What KEDA reads: the group's committed offset on each partition. Without one,
            # it counts the partition's log end (3 here) as waiting work, forever.
            for _ in range(150):  # the assignment takes a moment: up to 30 s
                if await _committed(admin, group, partitions) == ends:
                    break
                await asyncio.sleep(0.2)
            assert await _committed(admin, group, partitions) == ends

            # ... and a new job is still taken and handled as before.
            job = JobProgress(job_id=uuid4(), stage=Stage.TRACKING, percent=1)
            await broker.publish(job, topic)
            async with asyncio.timeout(30):
                await got.wait()
            await worker.wait_idle()
            await worker.shutdown()
        assert [e.job_id for e in handled] == [job.job_id]
    finally:
        await producer.stop()
        await admin.close()


async def _log_ends(bootstrap: str, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def _committed(
    admin: AIOKafkaAdminClient, group: str, partitions: list[TopicPartition]
) -> dict[TopicPartition, int]:
    """The group's committed offsets, as KEDA reads them (-1: none)."""
    found = await admin.list_consumer_group_offsets(group, partitions=partitions)
    return {tp: meta.offset for tp, meta in found.items()}
