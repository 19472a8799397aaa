"""Prometheus metrics of the notifier, in the app's own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class NotifierMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.events = Counter(
            "tapmask_notifier_events",
            "Kafka events received, by job state and whether they were fanned out",
            ["status", "outcome"],
            registry=registry,
        )
        self.subscribers = Gauge(
            "tapmask_notifier_subscribers", "Open SSE streams", registry=registry
        )
        self.dropped = Counter(
            "tapmask_notifier_updates_skipped",
            "Updates a slow SSE client skipped (its queue was full)",
            registry=registry,
        )
        self.jobs = Gauge("tapmask_notifier_jobs", "Jobs the notifier remembers", registry=registry)
        self.lag = Gauge(
            "tapmask_notifier_consumer_lag",
            "Events not yet read, per partition",
            ["topic", "partition"],
            registry=registry,
        )
