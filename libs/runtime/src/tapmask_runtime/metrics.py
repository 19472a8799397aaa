"""Prometheus metrics for the services, in a registry the service owns (none at import time).

HTTP services answer ``/metrics`` with ``render_latest(registry)``; workers without an HTTP
server call ``serve_metrics(registry, settings)``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

from tapmask_runtime.settings import MetricsSettings

# Stages run from under a second (short clip) to many minutes (long video on a CPU).
STAGE_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 3600.0)


class WorkerMetrics:
    """What every worker reports: events by outcome, time per stage, jobs in progress."""

    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        self.service = service
        self.events = Counter(
            "tapmask_events_handled_total",
            "Events handled, by topic and outcome (e.g. ok, failed, retried, duplicate)",
            ["service", "topic", "outcome"],
            registry=registry,
        )
        self.stage_seconds = Histogram(
            "tapmask_stage_seconds",
            "Wall time of a processing stage",
            ["service", "stage"],
            buckets=STAGE_BUCKETS,
            registry=registry,
        )
        self.in_progress = Gauge(
            "tapmask_jobs_in_progress",
            "Jobs this process is working on",
            ["service"],
            registry=registry,
        )

    def handled(self, topic: str, outcome: str) -> None:
        self.events.labels(self.service, topic, outcome).inc()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage and count the job as in progress meanwhile (also when it fails)."""
        gauge = self.in_progress.labels(self.service)
        gauge.inc()
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stage_seconds.labels(self.service, name).observe(time.perf_counter() - start)
            gauge.dec()


def render_latest(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The body and content type of a ``/metrics`` response."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


def serve_metrics(registry: CollectorRegistry, settings: MetricsSettings) -> bool:
    """Serve ``/metrics`` from a background thread when a port is configured."""
    if settings.port is None:
        return False
    start_http_server(settings.port, addr=settings.host, registry=registry)
    return True
