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

from uuid import UUID

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from pydantic import BaseModel, ConfigDict, Field

from tapmask_gateway.controllers.deps import (
    AnyRequest,
    ClientDep,
    JobsDep,
    MetricsDep,
    header_token,
    http_refusals,
    presented_token,
)
from tapmask_gateway.controllers.jobs import (
    MAX_POINTS,
    CreateJobResponse,
    DownloadView,
    _created,
)
from tapmask_schemas import ClickPoint, Effect, JobStatus, ProcessingMode


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


class CancelView(BaseModel):
    job_id: UUID
    status: JobStatus


class ResultController(Controller):
    path = "/api/jobs"
    tags = ["jobs"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/{job_id:uuid}/original", summary="A presigned URL of the job's input video (1 hour)")
    async def original(
        self,
        job_id: FromPath[UUID],
        jobs: JobsDep,
        metrics: MetricsDep,
        request: AnyRequest,
        token: FromQuery[str | None] = None,
    ) -> DownloadView:
        """For a before/after view of the result, also after the page was reloaded."""
        with http_refusals(metrics):
            download = await jobs.original(job_id, presented_token(request, token))
        return DownloadView(url=download.url, expires_in=download.expires_in)

    @post("/{job_id:uuid}/render", status_code=201, summary="Render the job's masks again")
    async def render(
        self,
        job_id: FromPath[UUID],
        data: JSONBody[RenderRequest],
        jobs: JobsDep,
        metrics: MetricsDep,
        client: ClientDep,
        request: AnyRequest,
    ) -> CreateJobResponse:
        """A new job with another mode or effect from the stored masks of this one (the
        tracker does not run again). 409 until this job's masks are ready."""
        with http_refusals(metrics):
            created = await jobs.render_again(
                client, job_id, header_token(request), data.processing_mode, data.effect
            )
        return _created(metrics, client, created)

    @post("/{job_id:uuid}/rerun", status_code=201, summary="Track again with corrected clicks")
    async def rerun(
        self,
        job_id: FromPath[UUID],
        data: JSONBody[RerunRequest],
        jobs: JobsDep,
        metrics: MetricsDep,
        client: ClientDep,
        request: AnyRequest,
    ) -> CreateJobResponse:
        """A new job on the same video with the clicks given (e.g. the first ones plus a
        correction on a later frame)."""
        with http_refusals(metrics):
            created = await jobs.rerun(
                client,
                job_id,
                header_token(request),
                list(data.points),
                data.processing_mode,
                data.effect,
                data.auto_faces,
            )
        return _created(metrics, client, created)

    @post("/{job_id:uuid}/cancel", status_code=200, summary="Cancel a job; its workers stop")
    async def cancel(
        self,
        job_id: FromPath[UUID],
        jobs: JobsDep,
        metrics: MetricsDep,
        request: AnyRequest,
    ) -> CancelView:
        """The job ends as `cancelled` at once (and its progress stream says so); the
        worker running it stops at its next progress tick (about a second), and a stage
        not yet started never starts (`tapmask_runtime.cancels`). 409 when the job had
        already finished. It still counts against the monthly quota."""
        with http_refusals(metrics):
            await jobs.cancel(job_id, header_token(request))
        return CancelView(job_id=job_id, status=JobStatus.CANCELLED)
