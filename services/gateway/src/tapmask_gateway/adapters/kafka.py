"""The Kafka broker of the gateway: publishing (the outbox relay) and the projector."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from tapmask_gateway.settings import KafkaSettings


def make_broker(settings: KafkaSettings) -> KafkaBroker:
    # acks=all + idempotence: a JobCreated the relay marks sent is on every in-sync
    # replica and is never written twice by a producer retry.
    return KafkaBroker(
        settings.bootstrap_servers,
        client_id=settings.client_id,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=10_000,
        logger=None,
    )
