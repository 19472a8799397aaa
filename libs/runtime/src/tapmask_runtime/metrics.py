"""Prometheus metrics for the services, in a registry the service owns (none at import time).

Workers count their job stages in ``WorkerMetrics``; every service answers ``/metrics`` with
``render_latest(registry)`` (the workers from tapmask_runtime.probes).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)


@dataclass
class WorkerMetrics:
    """Prometheus metrics of one worker service (its own registry, no globals)."""

    service: str
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.jobs = Counter(
            "tapmask_worker_jobs",
            "Job stages handled, by outcome",
            ["service", "outcome"],
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "tapmask_worker_jobs_in_progress",
            "Job stages running now",
            ["service"],
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "tapmask_worker_stage_duration_seconds",
            "Duration of each step of a job stage",
            ["service", "stage"],
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
            registry=self.registry,
        )
        self.lag = Gauge(
            "tapmask_worker_consumer_lag",
            "Messages on each assigned partition not yet read (tapmask_runtime.kafka.consumer_lag)",
            ["service", "topic", "partition"],
            registry=self.registry,
        )

    def count(self, outcome: str) -> None:
        self.jobs.labels(self.service, outcome).inc()

    def value(self, outcome: str) -> float:
        """Current count of an outcome (for tests and health output)."""
        return float(self.jobs.labels(self.service, outcome)._value.get())

    @contextlib.contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.stage_seconds.labels(self.service, stage).observe(time.monotonic() - start)


def render_latest(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The body and content type of a ``/metrics`` response."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
