"""Stage durations are observed once per stage, when the job leaves it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from tapmask_gateway.domain.jobs import JobState, apply_event
from tapmask_gateway.metrics import Metrics
from tapmask_schemas import JobProgress, Stage, VideoReady

T0 = datetime(2026, 1, 1, tzinfo=UTC)
JOB = uuid4()


def observed(metrics: Metrics, stage: str) -> tuple[float, float]:
    count = metrics.registry.get_sample_value(
        "tapmask_gateway_stage_duration_seconds_count", {"stage": stage}
    )
    total = metrics.registry.get_sample_value(
        "tapmask_gateway_stage_duration_seconds_sum", {"stage": stage}
    )
    return count or 0.0, total or 0.0


def test_each_stage_is_timed_once() -> None:
    metrics = Metrics()
    state = JobState(stage_started=((Stage.QUEUED, T0),))
    events = [
        JobProgress(
            job_id=JOB, stage=Stage.TRACKING, percent=5, occurred_at=T0 + timedelta(seconds=2)
        ),
        JobProgress(
            job_id=JOB, stage=Stage.TRACKING, percent=40, occurred_at=T0 + timedelta(seconds=5)
        ),
        JobProgress(
            job_id=JOB, stage=Stage.RENDERING, percent=60, occurred_at=T0 + timedelta(seconds=12)
        ),
        VideoReady(
            job_id=JOB,
            output_key="outputs/x.mp4",
            size_bytes=1,
            duration_seconds=1,
            occurred_at=T0 + timedelta(seconds=20),
        ),
    ]
    for event in events:
        after = apply_event(state, event)
        assert after is not None
        metrics.on_change(state, after)
        state = after
    assert observed(metrics, "queued") == (1.0, 2.0)
    assert observed(metrics, "tracking") == (1.0, 10.0)
    assert observed(metrics, "rendering") == (1.0, 8.0)
    assert observed(metrics, "done") == (0.0, 0.0)
