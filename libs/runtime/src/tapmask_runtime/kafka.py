"""The FastStream Kafka broker every service uses, the topics it declares, and consumer lag.

Delivery is at-least-once end to end:

- producers wait for all in-sync replicas (``acks="all"``) and are idempotent, so a retried
  send neither loses an event nor writes it twice;
- consumers commit an offset only after the handler has finished (never on receipt), so a
  worker that dies mid-job gets the job again. Consumers drop repeats by ``event_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.schemas.topic import Topic
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from tapmask_runtime.settings import KafkaSettings


def make_security(settings: KafkaSettings) -> BaseSecurity | None:
    ssl = settings.security_protocol in ("SSL", "SASL_SSL")
    if not settings.uses_sasl:
        return BaseSecurity(use_ssl=True) if ssl else None
    if settings.sasl_username is None or settings.sasl_password is None:
        raise ValueError(
            f"Kafka security_protocol {settings.security_protocol} needs "
            "TAPMASK_KAFKA__SASL_USERNAME and TAPMASK_KAFKA__SASL_PASSWORD"
        )
    kind = {
        "PLAIN": SASLPlaintext,
        "SCRAM-SHA-256": SASLScram256,
        "SCRAM-SHA-512": SASLScram512,
    }[settings.sasl_mechanism]
    return kind(
        username=settings.sasl_username,
        password=settings.sasl_password.get_secret_value(),
        use_ssl=ssl,
    )


def make_broker(
    settings: KafkaSettings, *, middlewares: Sequence[Any] = (), **extra: Any
) -> KafkaBroker:
    """A broker (not yet connected) with durable, idempotent producers and commit-after-work
    consumers. ``extra`` goes to ``KafkaBroker`` (e.g. ``logger=``).

    Every broker carries FastStream's OpenTelemetry middleware, outermost: it writes the
    current trace into each published message's headers and continues it around each
    consumed one, so a job's spans in every service join one trace. While tracing is off
    (tapmask_runtime.tracing) its spans are OpenTelemetry's no-ops. ``middlewares`` run
    inside it (e.g. FastStream's Prometheus middleware)."""
    return KafkaBroker(
        settings.bootstrap_servers,
        client_id=settings.client_id,
        request_timeout_ms=settings.request_timeout_ms,
        security=make_security(settings),
        acks="all",
        enable_idempotence=True,
        # Every subscriber names its own policy (the workers' StageWorker commits by hand,
        # tapmask_runtime.worker); this default only keeps one that forgets from FastStream's
        # ACK_FIRST, which commits a message before it is handled and so loses it on a crash.
        ack_policy=AckPolicy.ACK,
        middlewares=(KafkaTelemetryMiddleware(), *middlewares),
        **extra,
    )


def declared_topic(name: str, settings: KafkaSettings) -> Topic:
    """A topic FastStream creates on subscribe if missing, with our partitions and replication
    (FastStream's own default is a single partition, which caps a group at one consumer)."""
    return Topic(
        name,
        num_partitions=settings.topic_partitions,
        replication_factor=settings.topic_replication_factor,
    )


async def consumer_lag(consumer: AIOKafkaConsumer) -> dict[TopicPartition, int]:
    """Events on each assigned partition this consumer has not read yet: the log end minus its
    position. The one measure every service reports (workers, the gateway's projector, the
    notifier) - the services had three: ``end - committed`` counted a worker's running job as
    waiting and meant nothing for the notifier, which never commits; ``highwater - position``
    goes stale exactly when a worker is busy, its partitions paused and nothing fetched. So
    the log end is asked of the broker (one request per sample)."""
    assigned = list(consumer.assignment())
    if not assigned:
        return {}
    ends = await consumer.end_offsets(assigned)
    lag: dict[TopicPartition, int] = {}
    for tp in assigned:
        lag[tp] = max(0, ends.get(tp, 0) - await consumer.position(tp))
    return lag
