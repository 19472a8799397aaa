"""The gateway's Kafka broker: the shared one (acks=all, idempotent producer)."""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CollectorRegistry

from tapmask_runtime.kafka import make_broker as _make_broker
from tapmask_runtime.settings import KafkaSettings


def make_broker(settings: KafkaSettings, registry: CollectorRegistry) -> KafkaBroker:
    """The broker, with FastStream's Prometheus middleware counting into ``registry`` (the
    one /metrics serves), as in the workers and the notifier: the relay's publishes of
    job-created and the projector's events received, with their processing time."""
    return _make_broker(
        settings,
        logger=None,
        middlewares=(KafkaPrometheusMiddleware(registry=registry, app_name="gateway"),),
    )
