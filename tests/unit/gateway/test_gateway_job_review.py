"""The job state learns from masks-ready which tracker made the masks and which frames a
person should check, in whatever order the events arrive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from job_events import masks_ready as job_masks_ready
from job_events import video_ready as job_video_ready
from job_replay import replay

from tapmask_gateway.domain.jobs import apply_event
from tapmask_schemas import (
    JobFailed,
    JobProgress,
    JobStatus,
    MasksReady,
    ReviewRange,
    Stage,
    VideoInfo,
    VideoReady,
)

JOB = uuid4()
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
VIDEO = VideoInfo(
    width=64, height=48, frame_count=300, duration_seconds=10, fps=30, has_audio=False
)
LOST = ReviewRange(start_frame=75, end_frame=90, reason="object lost; mask held and widened")


def masks_ready(review: list[ReviewRange] | None = None, at: int = 8) -> MasksReady:
    return job_masks_ready(
        JOB,
        video=VIDEO,
        frames_with_object=280,
        tracker_backend="learned",
        review=[LOST] if review is None else review,
        occurred_at=T0 + timedelta(seconds=at),
    )


def video_ready(at: int = 12) -> VideoReady:
    return job_video_ready(JOB, duration_seconds=10, occurred_at=T0 + timedelta(seconds=at))


def test_nothing_is_known_of_the_tracker_before_the_masks_are_ready() -> None:
    state = replay(JobProgress(job_id=JOB, stage=Stage.TRACKING, percent=20))
    assert (state.tracker_backend, state.review) == (None, None)


def test_masks_ready_records_the_backend_and_the_frames_to_check() -> None:
    state = replay(
        JobProgress(job_id=JOB, stage=Stage.TRACKING, percent=20), masks_ready(), video_ready()
    )
    assert state.status is JobStatus.COMPLETED
    assert state.tracker_backend == "learned"
    assert state.review == (LOST,)


def test_masks_ready_read_after_video_ready_still_tells_which_frames_to_check() -> None:
    done = replay(video_ready())
    after = apply_event(done, masks_ready())
    assert after is not None
    assert (after.tracker_backend, after.review) == ("learned", (LOST,))
    # ... and nothing else moves: the job stays completed, done, at 100%.
    assert (after.status, after.stage, after.percent) == (JobStatus.COMPLETED, Stage.DONE, 100)
    assert after.finished_at == done.finished_at and after.masks_key is None
    assert apply_event(after, masks_ready()) is None  # a repeat changes nothing


def test_a_repeated_masks_ready_changes_nothing() -> None:
    state = replay(masks_ready())
    assert apply_event(state, masks_ready(review=[])) is None
    assert state.review == (LOST,)


def test_a_failed_job_keeps_failing_but_learns_about_its_masks() -> None:
    failed = replay(
        JobFailed(job_id=JOB, stage=Stage.RENDERING, reason="encoder broke", occurred_at=T0)
    )
    after = apply_event(failed, masks_ready())
    assert after is not None and after.status is JobStatus.FAILED
    assert after.error == "encoder broke" and after.review == (LOST,)


def test_masks_of_a_tracker_that_was_sure_have_an_empty_review() -> None:
    state = replay(masks_ready(review=[]))
    assert (state.tracker_backend, state.review) == ("learned", ())
