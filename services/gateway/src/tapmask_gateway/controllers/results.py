"""After a job: its original for before/after, render again, and fix the clicks and re-run.

Track once, render many: ``POST /api/jobs/{id}/render`` makes a new job that renders the
stored masks of a finished job with another mode or effect. Its masks-ready event goes
straight to the renderer (the tracker, by far the slow part -- 0.2-1.8x real time on 2
cores against the renderer's ~4x, README "Quality and speed" -- does not run again).
``POST /api/jobs/{id}/rerun`` takes corrected clicks (e.g. on a later frame where the mask
went wrong) and tracks again from the same video. Both are new jobs with their own id and
token, count against the quota like any job, and share the first job's input file and
expiry (the files are deleted together).
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import anyio.to_thread
from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from pydantic import BaseModel, ConfigDict, Field

from tapmask_gateway.adapters import db
from tapmask_gateway.context import Client, Gateway
from tapmask_gateway.controllers.deps import AnyRequest, GatewayDep, Problem, client_of
from tapmask_gateway.controllers.jobs import (
    MAX_POINTS,
    CreateJobResponse,
    DownloadView,
    _authorized_job,
    _created,
    _quota_left,
    _quota_used_up,
)
from tapmask_gateway.domain.tokens import job_token, token_hash
from tapmask_gateway.domain.uploads import click_problem
from tapmask_runtime.cancels import cancel_key
from tapmask_schemas import (
    ClickPoint,
    Effect,
    JobCreated,
    JobProgress,
    JobStatus,
    MasksReady,
    ProcessingMode,
    Stage,
    VideoInfo,
)
from tapmask_schemas.topics import JOB_CREATED, JOB_PROGRESS, MASKS_READY, key_for


class RenderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    processing_mode: ProcessingMode
    effect: Effect | None = Field(default=None, description="privacy mode only; default blur.")


class RerunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: list[ClickPoint] = Field(
        min_length=1,
        max_length=MAX_POINTS,
        description="All clicks of the new run (each with its frame and object_id), in "
        "displayed pixels; at least one positive. The first job's clicks are not added.",
    )
    processing_mode: ProcessingMode | None = Field(
        default=None, description="Default: the first job's."
    )
    effect: Effect | None = Field(default=None, description="Default: the first job's.")
    auto_faces: bool = Field(
        default=False,
        description="Also hide every face (not carried over from the first job: say it again).",
    )


async def _new_job(
    gw: Gateway,
    client: Client,
    source: db.JobRow,
    mode: ProcessingMode,
    effect: Effect,
    points: list[ClickPoint],
    topic: str,
    event_of: type[MasksReady] | type[JobCreated],
    auto_faces: bool = False,
) -> CreateJobResponse:
    settings = gw.settings
    now = datetime.now(UTC)
    month, limit = await _quota_left(gw, client, now)
    job_id = uuid4()
    token = job_token(settings.token_secret.get_secret_value(), job_id)
    video = VideoInfo.model_validate(source.video)
    if event_of is MasksReady:
        state = source.state
        assert state.masks_key is not None
        event: MasksReady | JobCreated = MasksReady(
            job_id=job_id,
            upload_key=source.upload_key,
            masks_key=state.masks_key,
            mode=mode,
            effect=effect,
            video=video,
            frames_with_object=0,
            tracker_backend=state.tracker_backend or "unknown",
            review=list(state.review or ()),
        )
    else:
        event = JobCreated(
            job_id=job_id,
            upload_key=source.upload_key,
            mode=mode,
            effect=effect,
            points=points,
            video=video,
            auto_faces=auto_faces,
        )
    new = db.NewJob(
        id=job_id,
        access_token_hash=token_hash(token),
        mode=mode.value,
        effect=effect.value,
        points=[p.model_dump() for p in points],
        upload_key=source.upload_key,
        video=source.video,
        client_ip=client.ip,
        api_key_id=client.api_key.id if client.api_key else None,
        tier=client.tier.value,
        expires_at=source.expires_at,
    )
    try:
        await db.create_render_job(
            gw.db,
            new,
            subject=client.subject,
            month=month,
            quota=limit,
            topic=topic,
            key=key_for(job_id),
            event=event.model_dump(mode="json"),
        )
    except db.QuotaExceeded:
        raise _quota_used_up(gw, limit, now) from None
    return _created(gw, client, job_id, token)


def _usable(job: db.JobRow) -> None:
    if job.state.status is JobStatus.EXPIRED:
        raise Problem(410, "this job's files have expired and were deleted: upload the video again")


class CancelView(BaseModel):
    job_id: UUID
    status: JobStatus


CANCELLED_REASON = "cancelled by you"


class ResultController(Controller):
    path = "/api/jobs"
    tags = ["jobs"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/{job_id:uuid}/original", summary="A presigned URL of the job's input video (1 hour)")
    async def original(
        self,
        job_id: FromPath[UUID],
        gw: GatewayDep,
        request: AnyRequest,
        token: FromQuery[str | None] = None,
    ) -> DownloadView:
        """For a before/after view of the result, also after the page was reloaded."""
        job = await _authorized_job(gw, job_id, request, token)
        _usable(job)
        expires = gw.settings.download_expiry_s
        url = await anyio.to_thread.run_sync(
            gw.s3.presign_download, job.upload_key, f"original-{job.id}", expires
        )
        return DownloadView(url=url, expires_in=expires)

    @post("/{job_id:uuid}/render", status_code=201, summary="Render the job's masks again")
    async def render(
        self,
        job_id: FromPath[UUID],
        data: JSONBody[RenderRequest],
        gw: GatewayDep,
        request: AnyRequest,
        token: FromQuery[str | None] = None,
    ) -> CreateJobResponse:
        """A new job with another mode or effect from the stored masks of this one (the
        tracker does not run again). 409 until this job's masks are ready."""
        job = await _authorized_job(gw, job_id, request, token)
        _usable(job)
        if job.state.masks_key is None:
            raise Problem(
                409,
                "the object's outline is not ready yet: render again once this job has "
                "followed the object",
                headers={"Retry-After": "2"},
            )
        effect = data.effect or Effect.BLUR
        # No clicks of its own: it renders the masks the first job's clicks gave.
        return await _new_job(
            gw, client_of(request), job, data.processing_mode, effect, [], MASKS_READY, MasksReady
        )

    @post("/{job_id:uuid}/rerun", status_code=201, summary="Track again with corrected clicks")
    async def rerun(
        self,
        job_id: FromPath[UUID],
        data: JSONBody[RerunRequest],
        gw: GatewayDep,
        request: AnyRequest,
        token: FromQuery[str | None] = None,
    ) -> CreateJobResponse:
        """A new job on the same video with the clicks given (e.g. the first ones plus a
        correction on a later frame)."""
        job = await _authorized_job(gw, job_id, request, token)
        _usable(job)
        if not any(p.positive for p in data.points):
            raise Problem(422, "click on the object at least once (a positive point)")
        video = VideoInfo.model_validate(job.video)
        for point in data.points:
            problem = click_problem(
                point.x,
                point.y,
                point.frame,
                video.display_width or video.width,
                video.display_height or video.height,
                video.frame_count,
            )
            if problem:
                gw.metrics.rejected.labels("bad_click").inc()
                raise Problem(422, problem)
        points = list(data.points)
        mode = data.processing_mode or ProcessingMode(job.mode)
        effect = data.effect or Effect(job.effect)
        return await _new_job(
            gw,
            client_of(request),
            job,
            mode,
            effect,
            points,
            JOB_CREATED,
            JobCreated,
            auto_faces=data.auto_faces,
        )

    @post("/{job_id:uuid}/cancel", status_code=200, summary="Cancel a job; its workers stop")
    async def cancel(
        self,
        job_id: FromPath[UUID],
        gw: GatewayDep,
        request: AnyRequest,
        token: FromQuery[str | None] = None,
    ) -> CancelView:
        """The job ends as `cancelled` at once (and its progress stream says so); the
        worker running it stops at its next progress tick (about a second), and a stage
        not yet started never starts (`tapmask_runtime.cancels`). 409 when the job had
        already finished. It still counts against the monthly quota."""
        job = await _authorized_job(gw, job_id, request, token)
        if job.state.status.is_final:
            raise Problem(409, f"the job has already {_finished(job.state.status)}")
        # The marker first: once the job reads as cancelled, no stage may start it.
        await anyio.to_thread.run_sync(gw.s3.put_bytes, cancel_key(job_id), b"{}")

        def progress(stage: str, percent: float) -> dict[str, object]:
            return JobProgress(
                job_id=job_id,
                status=JobStatus.CANCELLED,
                stage=Stage(stage),
                percent=percent,
                message="Cancelled",
            ).model_dump(mode="json")

        running = [s.value for s in JobStatus if not s.is_final]
        done = await db.cancel_job(
            gw.db,
            job_id,
            running=running,
            reason=CANCELLED_REASON,
            topic=JOB_PROGRESS,
            key=key_for(job_id),
            event_for=progress,
        )
        if not done:
            latest = await db.get_job(gw.db, job_id)
            status = latest.state.status if latest else JobStatus.COMPLETED
            raise Problem(409, f"the job has already {_finished(status)}")
        gw.relay_wake.set()
        return CancelView(job_id=job_id, status=JobStatus.CANCELLED)


def _finished(status: JobStatus) -> str:
    return {
        JobStatus.COMPLETED: "completed: download the result",
        JobStatus.FAILED: "failed",
        JobStatus.EXPIRED: "expired",
        JobStatus.CANCELLED: "been cancelled",
    }.get(status, "finished")
