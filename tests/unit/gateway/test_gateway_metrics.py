"""Stage durations are observed once per stage, when the job leaves it; the gauges refresh
what they can when a source is down."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from uuid import uuid4

import pytest
from aiokafka import TopicPartition

from tapmask_gateway.controllers.health import _refresh_gauges
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


async def test_metrics_with_the_database_down_still_refresh_the_lag_and_say_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class DownDatabase:
        async def fetch(self, *args: object, **kw: object) -> object:
            raise ConnectionRefusedError("postgres is down")

        async def fetchval(self, *args: object, **kw: object) -> object:
            raise ConnectionRefusedError("postgres is down")

    class Consumer:
        def assignment(self) -> set[TopicPartition]:
            return {TopicPartition("tapmask.job-progress", 0)}

        async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
            return dict.fromkeys(tps, 7)

        async def position(self, tp: TopicPartition) -> int:
            return 4

    metrics = Metrics()
    projector = SimpleNamespace(consumer=Consumer())
    with caplog.at_level(logging.WARNING, logger="tapmask_gateway.health"):
        await _refresh_gauges(DownDatabase(), metrics, projector)
    lag = metrics.registry.get_sample_value(
        "tapmask_gateway_consumer_lag", {"topic": "tapmask.job-progress"}
    )
    assert lag == 3
    assert "postgres is down" in caplog.text
