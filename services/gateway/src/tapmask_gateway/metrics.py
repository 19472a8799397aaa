"""Prometheus metrics of one gateway app (its own registry: several apps can live in a test)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tapmask_gateway.domain.jobs import JobState
from tapmask_schemas import Stage


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.rejected = Counter(
            "tapmask_gateway_rejections_total",
            "Requests refused by a rule (rate limit, quota, bad upload...).",
            ["reason"],
            registry=self.registry,
        )
        self.jobs_created = Counter(
            "tapmask_gateway_jobs_created_total",
            "Jobs accepted.",
            ["tier"],
            registry=self.registry,
        )
        self.jobs = Gauge(
            "tapmask_gateway_jobs",
            "Jobs in the database by state.",
            ["state"],
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "tapmask_gateway_stage_duration_seconds",
            "Time jobs spent per stage, as projected from worker events.",
            ["stage"],
            buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600),
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "tapmask_gateway_consumer_lag",
            "Events not yet projected, per topic.",
            ["topic"],
            registry=self.registry,
        )
        self.outbox_pending = Gauge(
            "tapmask_gateway_outbox_pending",
            "Outbox rows not yet on Kafka.",
            registry=self.registry,
        )
        #: When /metrics last refreshed the database-backed gauges (``time.monotonic()``).
        self.gauges_refreshed_at = float("-inf")

    def on_change(self, before: JobState, after: JobState) -> None:
        """Observe each stage once, when the job leaves it."""
        seen = {stage for stage, _ in before.stage_started}
        ordered = sorted(after.stage_started, key=lambda item: item[1])
        for i, (stage, start) in enumerate(ordered):
            if stage is Stage.DONE:
                continue  # not a stage a job spends time in
            ended = ordered[i + 1][1] if i + 1 < len(ordered) else after.finished_at
            next_is_new = i + 1 < len(ordered) and ordered[i + 1][0] not in seen
            finished_now = after.finished_at is not None and before.finished_at is None
            if ended is not None and (next_is_new or (i + 1 == len(ordered) and finished_now)):
                self.stage_seconds.labels(stage.value).observe(
                    max(0.0, (ended - start).total_seconds())
                )
