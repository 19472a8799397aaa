"""The gateway's Kafka broker: the shared one (acks=all, idempotent producer)."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from tapmask_runtime.kafka import make_broker as _make_broker
from tapmask_runtime.settings import KafkaSettings


def make_broker(settings: KafkaSettings) -> KafkaBroker:
    return _make_broker(settings, logger=None)
