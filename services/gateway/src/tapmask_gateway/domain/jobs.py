"""The job state machine as the gateway projects it from events.

Events arrive at least once and, across topics, in no guaranteed order (a
progress event of the tracker can be read after the renderer's video-ready).
So a transition only ever moves a job forward: a stale or repeated event is
ignored instead of dragging a finished job back to "processing".

What masks-ready says about the masks (the tracker that made them, the frames a person
should check) is recorded whenever it arrives, even after the job finished: it is read
from another topic than video-ready, so it may come second, and a user of a completed job
must still learn which frames to check.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from tapmask_schemas import (
    JobFailed,
    JobProgress,
    JobStatus,
    MasksReady,
    ReviewRange,
    Stage,
    VideoReady,
)
from tapmask_schemas.events import Event

# Rank of each status: a job may only move to a higher rank (final ones never move,
# except a finished job expiring when its files are deleted).
_STATUS_RANK: Final[dict[JobStatus, int]] = {
    JobStatus.PENDING: 0,
    JobStatus.PROCESSING: 1,
    JobStatus.COMPLETED: 2,
    JobStatus.FAILED: 2,
    JobStatus.CANCELLED: 2,
    JobStatus.EXPIRED: 3,
}
_STAGE_RANK: Final[dict[Stage, int]] = {
    Stage.QUEUED: 0,
    Stage.DOWNLOADING: 1,
    Stage.TRACKING: 2,
    Stage.RENDERING: 3,
    Stage.UPLOADING: 4,
    Stage.DONE: 5,
}


@dataclass(frozen=True, slots=True)
class JobState:
    """What the gateway knows of a job; `stage_started` holds when each stage was first seen."""

    status: JobStatus = JobStatus.PENDING
    stage: Stage = Stage.QUEUED
    percent: float = 0.0
    error: str | None = None
    masks_key: str | None = None
    output_key: str | None = None
    output_size: int | None = None
    stage_started: tuple[tuple[Stage, datetime], ...] = ()
    finished_at: datetime | None = None
    # From masks-ready; None until the masks are ready (an empty review: nothing to check).
    tracker_backend: str | None = None
    review: tuple[ReviewRange, ...] | None = None

    def started(self, stage: Stage) -> datetime | None:
        return next((at for s, at in self.stage_started if s is stage), None)


def _progress_key(percent: float, stage: Stage) -> tuple[float, int]:
    return (percent, _STAGE_RANK[stage])


def _seen(state: JobState, stage: Stage, at: datetime) -> tuple[tuple[Stage, datetime], ...]:
    """`stage_started` with `stage` added when it is new (a stage's first sighting counts)."""
    if state.started(stage) is None:
        return (*state.stage_started, (stage, at))
    return state.stage_started


def _with_stage(state: JobState, stage: Stage, at: datetime) -> JobState:
    if _STAGE_RANK[stage] < _STAGE_RANK[state.stage]:
        stage = state.stage  # a late event of an earlier stage keeps the later stage
    return replace(state, stage=stage, stage_started=_seen(state, stage, at))


def apply_event(state: JobState, event: Event) -> JobState | None:
    """The state after `event`, or None when the event changes nothing (stale, repeated)."""
    if isinstance(event, MasksReady):
        return _masks_ready(state, event)
    if state.status.is_final:
        return None
    at = event.occurred_at
    if isinstance(event, JobProgress):
        target = event.status
        if target.is_final:
            # Progress carries no output key nor reason: finality comes from its own events.
            target = JobStatus.PROCESSING
        if _STATUS_RANK[target] < _STATUS_RANK[state.status]:
            return None
        # The job-wide percent orders progress: stage names repeat across workers (both the
        # tracker and the renderer download and upload), so their rank alone cannot.
        if _progress_key(event.percent, event.stage) <= _progress_key(state.percent, state.stage):
            if target is state.status:
                return None
            return replace(state, status=target)  # pending -> processing on a stale stage
        new = replace(state, stage=event.stage, stage_started=_seen(state, event.stage, at))
        return replace(new, status=target, percent=max(state.percent, event.percent))
    if isinstance(event, VideoReady):
        new = _with_stage(state, Stage.DONE, at)
        return replace(
            new,
            status=JobStatus.COMPLETED,
            percent=100.0,
            output_key=event.output_key,
            output_size=event.size_bytes,
            finished_at=at,
        )
    if isinstance(event, JobFailed):
        if event.retryable:
            return None  # a stage will try again; the user still sees it as running
        return replace(state, status=JobStatus.FAILED, error=event.reason, finished_at=at)
    return None  # job-created and unknown kinds do not move the projection


def _masks_ready(state: JobState, event: MasksReady) -> JobState | None:
    """Rendering is next (unless the job already finished); the tracker's name and review
    are recorded once, whenever they arrive."""
    new = state
    if state.tracker_backend is None:
        new = replace(new, tracker_backend=event.tracker_backend, review=tuple(event.review))
    if not state.status.is_final:
        new = _with_stage(new, Stage.RENDERING, event.occurred_at)
        new = replace(new, status=JobStatus.PROCESSING, masks_key=event.masks_key)
    return None if new == state else new


def stage_durations(state: JobState, now: datetime) -> dict[str, float]:
    """Seconds spent per stage seen so far (the current one up to `now` or the finish)."""
    ordered = sorted(state.stage_started, key=lambda item: item[1])
    out: dict[str, float] = {}
    for i, (stage, start) in enumerate(ordered):
        if stage is Stage.DONE:
            continue
        end = ordered[i + 1][1] if i + 1 < len(ordered) else (state.finished_at or now)
        out[stage.value] = max(0.0, (end - start).total_seconds())
    return out
