"""The FastStream Kafka broker every service uses, the topics it declares, and consumer lag.

Delivery is at-least-once end to end:

- producers wait for all in-sync replicas (``acks="all"``) and are idempotent, so a retried
  send neither loses an event nor writes it twice;
- consumers commit an offset only after the handler has finished (never on receipt), so a
  worker that dies mid-job gets the job again. Consumers drop repeats by ``event_id``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError, for_code
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.schemas.topic import Topic
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from tapmask_runtime.settings import KafkaSettings

log = logging.getLogger("tapmask.kafka")

# DescribeConfigs' config_source of a value set on the topic itself (the rest are broker
# settings and defaults, which an AlterConfigs request must not copy onto the topic).
_DYNAMIC_TOPIC_CONFIG = 1


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
    (FastStream's own default is a single partition, which caps a group at one consumer).
    A service's start-up has made it already, with its retention (``ensure_topics``); this
    is the fallback for a subscriber started without it (tests)."""
    return Topic(
        name,
        num_partitions=settings.topic_partitions,
        replication_factor=settings.topic_replication_factor,
    )


def topic_configs(settings: KafkaSettings) -> dict[str, str]:
    """The configs every TapMask topic is created with and held to: deleted, not compacted,
    after ``topic_retention_ms``, in segments of ``topic_segment_ms`` (KafkaSettings says
    why 22 h and 1 h)."""
    return {
        "cleanup.policy": "delete",
        "retention.ms": str(settings.topic_retention_ms),
        "segment.ms": str(settings.topic_segment_ms),
    }


def topics_used(broker: KafkaBroker) -> set[str]:
    """Every topic ``broker``'s subscribers and publishers name, router prefixes applied:
    what a service reads and writes, its retry and dead-letter topics included."""
    # Kafka publishers have a ``topic``; the registry's type is the generic publisher.
    names = {str(getattr(p, "topic", "")) for p in broker.publishers} - {""}
    for sub in broker.subscribers:
        for topic in getattr(sub, "topics", ()):
            names.add(topic.name if isinstance(topic, Topic) else str(topic))
    return names


async def ensure_topics(settings: KafkaSettings, names: Iterable[str]) -> None:
    """Create each topic in ``names`` (full names, prefix included) that is missing, with our
    partitions, replication and ``topic_configs``; set those configs on any that exists with
    other values (made by a broker's auto-create, an older release or a hand). Idempotent:
    replicas starting together all get "already exists" and write the same values.

    Why not FastStream's own topic declaration: its ``Topic`` carries partitions and
    replication only, so topics it creates get the broker's 7-day retention, and it does
    not declare the topics a service only publishes to (dead letters, retries' targets).
    Why the services and not the broker's defaults: a managed cluster (MSK) is shared and
    configured elsewhere; the retention a user is promised belongs with the code.
    Raises when the cluster refuses (e.g. no ACL to create or alter topics): a service
    that cannot hold the retention should not start."""
    wanted = sorted(set(names))
    if not wanted:
        return
    configs = topic_configs(settings)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=settings.client_id,
        request_timeout_ms=settings.request_timeout_ms,
        **parse_security(make_security(settings)),
    )
    await admin.start()
    try:
        created = await admin.create_topics(
            [
                NewTopic(
                    name,
                    settings.topic_partitions,
                    settings.topic_replication_factor,
                    topic_configs=configs,
                )
                for name in wanted
            ]
        )
        existing = []
        for result in created.to_object()["topic_errors"]:
            if not result["error_code"]:
                log.info("created topic %s %s", result["topic"], configs)
                continue
            error = for_code(result["error_code"])(result.get("error_message") or "")
            if not isinstance(error, TopicAlreadyExistsError):
                raise error
            existing.append(result["topic"])
        if existing:
            await _hold_configs_soon(admin, existing, configs)
    finally:
        await admin.close()


#: Tries, and the pause before the n-th retry (n x this), of reading back a topic that
#: another service is creating at this moment.
_HOLD_TRIES, _HOLD_PAUSE_S = 8, 0.25


async def _hold_configs_soon(
    admin: AIOKafkaAdminClient, names: list[str], configs: dict[str, str]
) -> None:
    """``_hold_configs``, retried while the topics are unknown to the broker asked.

    Why: services starting together race. The tracker's create makes a topic; the
    notifier's create a moment later answers "already exists", but its describe of the
    topic reaches a broker whose metadata has not caught up yet and answers "unknown
    topic": the notifier refused to start in a `make test` run (11:14:47, all its e2e
    jobs failed). The topic is being made, by the same code with the same configs: ask
    again shortly (up to ~7 s in all)."""
    for attempt in range(1, _HOLD_TRIES + 1):
        try:
            await _hold_configs(admin, names, configs)
            return
        except UnknownTopicOrPartitionError:
            if attempt == _HOLD_TRIES:
                raise
            log.info("topics %s not readable yet (being created); asking again", names)
            await asyncio.sleep(_HOLD_PAUSE_S * attempt)


async def _hold_configs(
    admin: AIOKafkaAdminClient, names: list[str], configs: dict[str, str]
) -> None:
    """Set ``configs`` on existing topics whose values differ. AlterConfigs (the request
    aiokafka sends) replaces a topic's whole set of overrides, so the overrides a topic
    already has (e.g. an operator's ``min.insync.replicas``) are sent along with ours."""
    described = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    )
    fixes = []
    for response in described:
        for resource in response.to_object()["resources"]:
            if resource["error_code"]:
                raise for_code(resource["error_code"])(resource["error_message"] or "")
            entries = resource["config_entries"]
            current = {e["config_names"]: e["config_value"] for e in entries}
            if all(current.get(k) == v for k, v in configs.items()):
                continue
            overrides = {
                e["config_names"]: e["config_value"]
                for e in entries
                if e.get("config_source", -1) == _DYNAMIC_TOPIC_CONFIG
                or ("config_source" not in e and not e.get("is_default", True))
            }
            log.warning(
                "topic %s had %s; setting %s",
                resource["resource_name"],
                {k: current.get(k) for k in configs},
                configs,
            )
            fixes.append(
                ConfigResource(
                    ConfigResourceType.TOPIC, resource["resource_name"], {**overrides, **configs}
                )
            )
    if not fixes:
        return
    for response in await admin.alter_configs(fixes):
        for resource in response.to_object()["resources"]:
            if resource["error_code"]:
                raise for_code(resource["error_code"])(resource["error_message"] or "")


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
