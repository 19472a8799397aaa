"""Watch a job while it tracks, and correct it there (issue 19).

- ``GET /api/jobs/{id}/previews``: the outline on the frames tracked so far (a low-resolution
  PNG of every ``step``-th frame, ``tapmask_schemas.tracking.TrackPreviews``), as the tracker
  stores it about every half second. Poll it with the job's progress events (each tracking
  update says "frame N of M"); ``revision`` changes when a correction restarted tracking.
- ``GET /api/jobs/{id}/hold``: what the owner asked of the tracker (``TrackHold``).
- ``POST /api/jobs/{id}/pause``: stop at the next frame (``{"at_end": true}``: track on,
  but wait before rendering until accepted).
- ``POST /api/jobs/{id}/resume``: go on; with ``points``, track again with those clicks
  (e.g. a "not this" on a later frame); with ``accept``, render now.

The hold is one small object next to the masks that the tracker reads with its progress
ticks (``tapmask_tracker.live``), as the workers read a cancel marker: no topic, no column.
A held job keeps its tracker from other jobs, so the tracker bounds a hold (5 minutes by
default, ``TAPMASK_TRACKER__MAX_HOLD_S``) and then goes on by itself. Only ``Authorization:
Bearer`` carries the job's token here (a query token belongs to what a browser cannot give a
header: the event stream and downloads).
"""

from __future__ import annotations

from uuid import UUID

import anyio
from botocore.exceptions import ClientError
from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody
from pydantic import BaseModel, ConfigDict, Field

from tapmask_gateway.adapters.s3 import GatewayS3
from tapmask_gateway.controllers.deps import (
    AnyRequest,
    JobsDep,
    MetricsDep,
    Problem,
    S3Dep,
    http_refusals,
    presented_token,
)
from tapmask_gateway.controllers.jobs import MAX_POINTS
from tapmask_gateway.domain.records import JobRow
from tapmask_schemas import ClickPoint, Stage
from tapmask_schemas.keys import hold_key, previews_key
from tapmask_schemas.tracking import TrackHold, TrackPreviews, preview_step


class PauseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at_end: bool = Field(
        default=False,
        description="False: stop at the next frame. True: track on, but wait before "
        "rendering until the outline is accepted (POST .../resume with accept).",
    )


class ResumeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: list[ClickPoint] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_POINTS,
        description="All clicks to track again with (displayed pixels, each with its frame "
        "and object_id; at least one positive). Left out: go on with the clicks as they are.",
    )
    accept: bool = Field(
        default=False, description="The outline is right: render it now (ends any hold)."
    )


async def _read(s3: GatewayS3, key: str) -> bytes | None:
    def get() -> bytes | None:
        try:
            body: bytes = s3.client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return body

    return await anyio.to_thread.run_sync(get)


async def _hold(s3: GatewayS3, job_id: UUID) -> TrackHold:
    raw = await _read(s3, hold_key(job_id))
    return TrackHold.model_validate_json(raw) if raw else TrackHold()


def _trackable(job: JobRow) -> None:
    """CONFLICT unless the job is still tracking (or waiting for it)."""
    state = job.state
    if state.status.is_final:
        raise Problem(409, f"the job is {state.status.value}: there is nothing to pause")
    if state.stage in (Stage.RENDERING, Stage.DONE) or state.masks_key is not None:
        raise Problem(409, "the outline is done and the video is being rendered")


def _check_points(job: JobRow, points: list[ClickPoint]) -> None:
    video = job.video
    width = int(video.get("display_width") or video.get("width") or 0)
    height = int(video.get("display_height") or video.get("height") or 0)
    frames = int(video.get("frame_count") or 0)
    if not any(p.positive for p in points):
        raise Problem(422, "points: at least one click must be on the object (positive)")
    for p in points:
        if (width and p.x > width) or (height and p.y > height):
            raise Problem(422, f"the click at ({p.x}, {p.y}) is outside the {width}x{height} frame")
        if frames and p.frame >= frames:
            raise Problem(
                422,
                f"click on frame {p.frame}, but the video has {frames} frames (0..{frames - 1})",
            )


class TrackingController(Controller):
    path = "/api/jobs"
    tags = ["tracking"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(
        "/{job_id:uuid}/previews",
        summary="The outline on the frames tracked so far (low-resolution previews)",
    )
    async def previews(
        self,
        job_id: FromPath[UUID],
        jobs: JobsDep,
        s3: S3Dep,
        metrics: MetricsDep,
        request: AnyRequest,
    ) -> TrackPreviews:
        """Empty (``frames_done`` 0) until the tracker has stored its first preview; kept
        after tracking ends, until the job expires."""
        with http_refusals(metrics):
            job = await jobs.usable(job_id, presented_token(request, None))
        raw = await _read(s3, previews_key(job_id))
        if raw:
            return TrackPreviews.model_validate_json(raw)
        frames = int(job.video.get("frame_count") or 0)
        return TrackPreviews(frames_done=0, frame_count=frames, step=preview_step(frames))

    @get("/{job_id:uuid}/hold", summary="What the owner asked of the tracker")
    async def hold(
        self,
        job_id: FromPath[UUID],
        jobs: JobsDep,
        s3: S3Dep,
        metrics: MetricsDep,
        request: AnyRequest,
    ) -> TrackHold:
        with http_refusals(metrics):
            await jobs.usable(job_id, presented_token(request, None))
        return await _hold(s3, job_id)

    @post(
        "/{job_id:uuid}/pause", status_code=200, summary="Pause tracking, or hold before rendering"
    )
    async def pause(
        self,
        job_id: FromPath[UUID],
        jobs: JobsDep,
        s3: S3Dep,
        metrics: MetricsDep,
        request: AnyRequest,
        data: JSONBody[PauseRequest | None] = None,
    ) -> TrackHold:
        """The tracker stops at its next frame (within about a second) and keeps the job
        until resumed, or at most its hold limit. 409 once rendering has begun."""
        with http_refusals(metrics):
            job = await jobs.usable(job_id, presented_token(request, None))
        _trackable(job)
        hold = await _hold(s3, job_id)
        asked = data or PauseRequest()
        update = {"at_end": True} if asked.at_end else {"paused": True}
        hold = hold.model_copy(update=update)
        await anyio.to_thread.run_sync(
            s3.put_bytes, hold_key(job_id), hold.model_dump_json().encode()
        )
        return hold

    @post("/{job_id:uuid}/resume", status_code=200, summary="Go on, track again, or render now")
    async def resume(
        self,
        job_id: FromPath[UUID],
        jobs: JobsDep,
        s3: S3Dep,
        metrics: MetricsDep,
        request: AnyRequest,
        data: JSONBody[ResumeRequest | None] = None,
    ) -> TrackHold:
        """With ``points``, the tracker starts again from the first frame with them (the
        outline of any frame may change with a new click); the previews start over."""
        with http_refusals(metrics):
            job = await jobs.usable(job_id, presented_token(request, None))
        _trackable(job)
        asked = data or ResumeRequest()
        hold = (await _hold(s3, job_id)).model_copy(update={"paused": False})
        if asked.points:
            _check_points(job, asked.points)
            hold = hold.model_copy(
                update={"points": list(asked.points), "revision": hold.revision + 1}
            )
        if asked.accept:
            hold = hold.model_copy(update={"at_end": False})
        await anyio.to_thread.run_sync(
            s3.put_bytes, hold_key(job_id), hold.model_dump_json().encode()
        )
        return hold
