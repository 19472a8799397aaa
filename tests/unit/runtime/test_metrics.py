"""Worker metrics as Prometheus scrapes them (the names the dashboards and the live worker
test in tests/integration/workers read)."""

from __future__ import annotations

import pytest

from tapmask_runtime.metrics import WorkerMetrics, render_latest


def test_stage_time_and_outcomes_are_exported() -> None:
    metrics = WorkerMetrics("renderer")

    with metrics.timed("render"):
        pass
    metrics.count("completed")
    metrics.count("completed")

    registry = metrics.registry
    assert metrics.value("completed") == 2
    assert (
        registry.get_sample_value(
            "tapmask_worker_jobs_total", {"service": "renderer", "outcome": "completed"}
        )
        == 2
    )
    assert (
        registry.get_sample_value(
            "tapmask_worker_stage_duration_seconds_count",
            {"service": "renderer", "stage": "render"},
        )
        == 1
    )
    body, content_type = render_latest(registry)
    assert b"tapmask_worker_stage_duration_seconds_bucket" in body
    assert content_type.startswith("text/plain")


def test_a_failing_step_is_still_timed() -> None:
    metrics = WorkerMetrics("tracker")
    with pytest.raises(ValueError), metrics.timed("track"):
        raise ValueError("bad frame")
    assert (
        metrics.registry.get_sample_value(
            "tapmask_worker_stage_duration_seconds_count",
            {"service": "tracker", "stage": "track"},
        )
        == 1
    )


def test_two_workers_in_one_process_keep_separate_registries() -> None:
    tracker, renderer = WorkerMetrics("tracker"), WorkerMetrics("renderer")
    tracker.count("failed")
    assert tracker.value("failed") == 1
    assert renderer.value("failed") == 0
