"""Consumer lag as every service reports it (tapmask_runtime.kafka.consumer_lag), on real
Kafka: what is on the partition and not yet read, also while the consumer is paused (a busy
worker) and for a consumer that never commits (the notifier)."""

from __future__ import annotations

from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tapmask_runtime.kafka import consumer_lag


async def test_lag_counts_what_is_not_yet_read_even_while_paused(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("lag")
    tp = TopicPartition(topic, 0)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap,
        group_id=unique_name("lag-group"),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        for i in range(5):
            await producer.send_and_wait(topic, b"%d" % i, partition=0)
        consumer.assign([tp])
        assert await consumer_lag(consumer) == {tp: 5}

        await consumer.getmany(tp, timeout_ms=10_000, max_records=2)
        read = await consumer.position(tp)
        assert 0 < read <= 5
        assert await consumer_lag(consumer) == {tp: 5 - read}  # nothing committed, all the same

        # A busy worker: paused, fetching nothing; what arrives meanwhile is still counted.
        consumer.pause(tp)
        for i in range(3):
            await producer.send_and_wait(topic, b"late %d" % i, partition=0)
        assert await consumer_lag(consumer) == {tp: 8 - read}
    finally:
        await consumer.stop()
        await producer.stop()
