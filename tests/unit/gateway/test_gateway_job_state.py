"""The projected job state only moves forward, whatever order events arrive in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from job_events import masks_ready
from job_events import video_ready as job_video_ready
from job_replay import replay

from tapmask_gateway.domain.jobs import JobState, apply_event, stage_durations
from tapmask_schemas import JobFailed, JobProgress, JobStatus, Stage, VideoInfo, VideoReady

JOB = uuid4()
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
VIDEO = VideoInfo(width=64, height=48, frame_count=10, duration_seconds=1, fps=10, has_audio=False)


def progress(stage: Stage, percent: float, at: int = 0) -> JobProgress:
    return JobProgress(
        job_id=JOB, stage=stage, percent=percent, occurred_at=T0 + timedelta(seconds=at)
    )


def video_ready(at: int = 0) -> VideoReady:
    return job_video_ready(
        JOB, size_bytes=1234, duration_seconds=1.0, occurred_at=T0 + timedelta(seconds=at)
    )


def test_a_job_goes_through_its_stages_to_completed() -> None:
    state = replay(
        progress(Stage.TRACKING, 10, at=1),
        progress(Stage.TRACKING, 40, at=5),
        masks_ready(
            JOB,
            video=VIDEO,
            frames_with_object=10,
            tracker_backend="cpu",
            occurred_at=T0 + timedelta(seconds=8),
        ),
        progress(Stage.RENDERING, 80, at=9),
        video_ready(at=12),
    )
    assert state.status is JobStatus.COMPLETED
    assert state.stage is Stage.DONE
    assert state.percent == 100
    assert state.output_key == f"outputs/{JOB}.mp4"
    assert state.masks_key == f"masks/{JOB}.masks"
    timings = stage_durations(state, T0 + timedelta(hours=1))
    assert timings == {"tracking": 7.0, "rendering": 4.0}


def test_a_stale_progress_after_completion_changes_nothing() -> None:
    done = replay(progress(Stage.RENDERING, 90), video_ready())
    assert apply_event(done, progress(Stage.RENDERING, 95)) is None
    assert apply_event(done, progress(Stage.TRACKING, 10)) is None


def test_progress_never_goes_back() -> None:
    state = replay(progress(Stage.RENDERING, 70))
    assert apply_event(state, progress(Stage.TRACKING, 45)) is None
    assert apply_event(state, progress(Stage.RENDERING, 60)) is None
    assert apply_event(state, progress(Stage.RENDERING, 70)) is None
    moved = apply_event(state, progress(Stage.RENDERING, 75))
    assert moved is not None and moved.percent == 75


def test_the_first_progress_moves_pending_to_processing() -> None:
    state = apply_event(JobState(), progress(Stage.QUEUED, 0))
    assert state is not None and state.status is JobStatus.PROCESSING


def test_a_final_failure_keeps_its_reason_and_is_final() -> None:
    failed = replay(
        progress(Stage.TRACKING, 20),
        JobFailed(job_id=JOB, stage=Stage.TRACKING, reason="the object was lost in frame 3"),
    )
    assert failed.status is JobStatus.FAILED
    assert failed.error == "the object was lost in frame 3"
    assert apply_event(failed, video_ready()) is None
    assert apply_event(failed, progress(Stage.RENDERING, 99)) is None


def test_a_retryable_failure_does_not_fail_the_job() -> None:
    state = replay(progress(Stage.TRACKING, 20))
    retry = JobFailed(job_id=JOB, stage=Stage.TRACKING, reason="worker restarted", retryable=True)
    assert apply_event(state, retry) is None


def test_a_progress_event_claiming_completion_cannot_complete_without_an_output() -> None:
    state = apply_event(
        JobState(),
        JobProgress(job_id=JOB, stage=Stage.DONE, percent=100, status=JobStatus.COMPLETED),
    )
    assert state is not None
    assert state.status is JobStatus.PROCESSING
    assert state.output_key is None


def test_the_renderer_s_stages_follow_the_tracker_s_upload() -> None:
    # What the two workers really send: both download and upload, so a stage name alone
    # does not say which comes later; the job-wide percent does.
    state = replay(
        progress(Stage.QUEUED, 0, at=0),
        progress(Stage.DOWNLOADING, 0, at=1),
        progress(Stage.TRACKING, 20, at=2),
        progress(Stage.UPLOADING, 50, at=5),
        progress(Stage.DOWNLOADING, 50, at=6),
        progress(Stage.RENDERING, 60, at=7),
        progress(Stage.RENDERING, 90, at=9),
        progress(Stage.UPLOADING, 97, at=10),
    )
    assert (state.status, state.stage, state.percent) == (
        JobStatus.PROCESSING,
        Stage.UPLOADING,
        97,
    )
    assert stage_durations(state, T0 + timedelta(seconds=11))["rendering"] == 4.0
    # ...and while rendering, the status page says so.
    mid = replay(progress(Stage.UPLOADING, 50, at=5), progress(Stage.RENDERING, 60, at=7))
    assert mid.stage is Stage.RENDERING and mid.percent == 60
