"""Worker metrics as Prometheus scrapes them."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from tapmask_runtime.metrics import WorkerMetrics, render_latest


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_stage_time_and_outcomes_are_exported() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry, "renderer")

    with metrics.stage("render"):
        assert _value(registry, "tapmask_jobs_in_progress", service="renderer") == 1
    metrics.handled("tapmask.masks-ready", "ok")

    assert _value(registry, "tapmask_jobs_in_progress", service="renderer") == 0
    assert _value(registry, "tapmask_stage_seconds_count", service="renderer", stage="render") == 1
    assert (
        _value(
            registry,
            "tapmask_events_handled_total",
            service="renderer",
            topic="tapmask.masks-ready",
            outcome="ok",
        )
        == 1
    )
    body, content_type = render_latest(registry)
    assert b"tapmask_stage_seconds_bucket" in body
    assert content_type.startswith("text/plain")


def test_a_failing_stage_is_still_timed_and_no_longer_in_progress() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry, "tracker")
    with pytest.raises(ValueError), metrics.stage("track"):
        raise ValueError("bad frame")
    assert _value(registry, "tapmask_jobs_in_progress", service="tracker") == 0
    assert _value(registry, "tapmask_stage_seconds_count", service="tracker", stage="track") == 1
