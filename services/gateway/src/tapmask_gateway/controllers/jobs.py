"""Jobs: create one from an upload and a click, read its state, download, follow its events."""

from __future__ import annotations

import asyncio
import re
import weakref
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
from litestar import Controller, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Stream
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tapmask_gateway.controllers.deps import (
    AnyRequest,
    ClientDep,
    HttpDep,
    JobsDep,
    MetricsDep,
    Problem,
    SettingsDep,
    StreamsDep,
    header_token,
    http_refusals,
    presented_token,
)
from tapmask_gateway.domain.clients import Client
from tapmask_gateway.domain.jobs import stage_durations
from tapmask_gateway.metrics import Metrics
from tapmask_gateway.usecases.jobs import CreatedJob, JobOrder, JobService
from tapmask_schemas import (
    ClickPoint,
    Effect,
    JobStatus,
    ProcessingMode,
    ReviewRange,
)
from tapmask_schemas.jobs import Integer, Number

MAX_POINTS = 32
_EVENT_ID = re.compile(r"[\x21-\x7e]{1,64}")


class CreateJobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upload_key: str = Field(min_length=1, max_length=200)
    click_x: Number | None = Field(
        default=None,
        ge=0,
        description="Pixels from the left of the decoded frame. Left out (with click_y) "
        "only when auto_faces hides every face and nothing is clicked.",
    )
    click_y: Number | None = Field(
        default=None, ge=0, description="Pixels from the top of the decoded frame."
    )
    frame: Integer = Field(default=0, ge=0, description="Frame the click was made on.")
    points: list[ClickPoint] | None = Field(
        default=None, max_length=MAX_POINTS, description="More clicks (negative ones too)."
    )
    processing_mode: ProcessingMode
    effect: Effect | None = Field(default=None, description="privacy mode only; default blur.")
    auto_faces: bool = Field(
        default=False,
        description="Also find and hide every face in the video, with no click.",
    )

    @model_validator(mode="after")
    def _something_to_hide(self) -> CreateJobRequest:
        if (self.click_x is None) != (self.click_y is None):
            raise ValueError("click_x and click_y go together")
        clicked = self.click_x is not None or any(p.positive for p in self.points or [])
        if not clicked and not self.auto_faces:
            raise ValueError(
                "nothing to hide: click on the object (click_x, click_y) or set auto_faces"
            )
        return self


class CreateJobResponse(BaseModel):
    job_id: UUID
    status: JobStatus
    access_token: str = Field(
        description="Send as `Authorization: Bearer` (`?token=` only on events and downloads)."
    )
    events_url: str = Field(description="Server-Sent Events of progress (token included).")
    status_url: str


class JobView(BaseModel):
    job_id: UUID
    status: JobStatus
    stage: str
    percent: float
    mode: str
    effect: str
    error: str | None
    video: dict[str, Any]
    timings: dict[str, float] = Field(description="Seconds spent per stage so far.")
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    download_url: str | None
    tracker_backend: str | None = Field(
        default=None,
        description="The tracker that followed the object (cpu, sam2, learned, ...); "
        "null until the object's outline (the masks) is ready.",
    )
    review: list[ReviewRange] | None = Field(
        default=None,
        description="Frame ranges (0-based, inclusive) where the tracker was unsure and the "
        "result should be checked by eye, each with the reason in plain words (e.g. 'object "
        "lost; mask held and widened': the object is covered by a held, widened outline "
        "there). Empty: the tracker was sure throughout. Null until the masks are ready.",
    )


class DownloadView(BaseModel):
    url: str
    expires_in: int


_FINAL = re.compile(rb'^data: .*"status": ?"(completed|failed)"', re.MULTILINE)
# An event ends with an empty line; SSE lines end in CRLF, LF or CR (kept as they came).
_EVENT_END = re.compile(rb"(\r\n\r\n|\n\n|\r\r)")
#: Longest a final event is held for the job's row to say the same (the projector lags the
#: notifier by milliseconds to a second; past this the event goes out anyway).
_PROJECTION_WAIT_S = 10.0


async def _until_projected(jobs: JobService, job_id: UUID) -> None:
    """Wait until the job's row is final: the stream said "completed" while GET said
    "processing" and the download answered 409 in 2 of 4 runs of a plain client (issue 9),
    because the notifier and this gateway's projector read the events independently."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _PROJECTION_WAIT_S
    while loop.time() < deadline:
        if await jobs.finished(job_id):
            return
        await asyncio.sleep(0.1)


def _created(metrics: Metrics, client: Client, created: CreatedJob) -> CreateJobResponse:
    """The answer to a new job (from an upload, or a render or rerun of another job)."""
    metrics.jobs_created.labels(client.tier.value).inc()
    job_id, token = created.job_id, created.token
    return CreateJobResponse(
        job_id=job_id,
        status=JobStatus.PENDING,
        access_token=token,
        events_url=f"/api/jobs/{job_id}/events?token={token}",
        status_url=f"/api/jobs/{job_id}",
    )


class JobController(Controller):
    path = "/api/jobs"
    tags = ["jobs"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post("/", status_code=201, summary="Start a job on an uploaded video")
    async def create(
        self,
        data: JSONBody[CreateJobRequest],
        jobs: JobsDep,
        metrics: MetricsDep,
        client: ClientDep,
    ) -> CreateJobResponse:
        first = (
            [ClickPoint(x=data.click_x, y=data.click_y, frame=data.frame)]
            if data.click_x is not None and data.click_y is not None
            else []
        )
        order = JobOrder(
            upload_key=data.upload_key,
            clicks=(*first, *(data.points or [])),
            mode=data.processing_mode,
            effect=data.effect,
            auto_faces=data.auto_faces,
        )
        with http_refusals(metrics):
            created = await jobs.create(client, order)
        return _created(metrics, client, created)

    @get("/{job_id:uuid}", summary="A job's state")
    async def read(
        self,
        job_id: FromPath[UUID],
        jobs: JobsDep,
        request: AnyRequest,
    ) -> JobView:
        """The token as `Authorization: Bearer` (400 for `?token=`: see `header_token`)."""
        with http_refusals():
            job = await jobs.authorized(job_id, header_token(request))
        state = job.state
        return JobView(
            job_id=job.id,
            status=state.status,
            stage=state.stage.value,
            percent=round(state.percent, 1),
            mode=job.mode,
            effect=job.effect,
            error=state.error,
            video=job.video,
            timings=stage_durations(state, datetime.now(UTC)),
            created_at=job.created_at,
            updated_at=job.updated_at,
            expires_at=job.expires_at,
            download_url=(
                f"/api/jobs/{job.id}/download" if state.status is JobStatus.COMPLETED else None
            ),
            tracker_backend=state.tracker_backend,
            review=None if state.review is None else list(state.review),
        )

    @get("/{job_id:uuid}/download", summary="A presigned URL of the result (1 hour)")
    async def download(
        self,
        job_id: FromPath[UUID],
        jobs: JobsDep,
        metrics: MetricsDep,
        request: AnyRequest,
        token: FromQuery[str | None] = None,
    ) -> DownloadView:
        with http_refusals(metrics):
            download = await jobs.result(job_id, presented_token(request, token))
        return DownloadView(url=download.url, expires_in=download.expires_in)

    @get("/{job_id:uuid}/events", summary="Server-Sent Events of the job (from the notifier)")
    async def events(
        self,
        job_id: FromPath[UUID],
        jobs: JobsDep,
        settings: SettingsDep,
        metrics: MetricsDep,
        http: HttpDep,
        streams: StreamsDep,
        client: ClientDep,
        request: AnyRequest,
        token: FromQuery[str | None] = None,
    ) -> Response[bytes] | Stream:
        """Forwarded to the notifier, so the browser stays on one origin."""
        presented = presented_token(request, token)
        with http_refusals():
            jobs.check_token(job_id, presented)
        last = request.headers.get("last-event-id")
        if last and not _EVENT_ID.fullmatch(last):
            # Ids this stream sends are digits; anything else (bytes that are not text) is
            # refused here rather than failing as a 500 on the way to the notifier.
            raise Problem(400, "Last-Event-ID must be the id of an event this stream sent")
        subject, job = client.subject, str(job_id)
        refused = streams.open(subject, job)
        if refused:
            metrics.rejected.labels("event_streams").inc()
            raise Problem(429, refused, headers={"Retry-After": "5"})
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                streams.close(subject, job)

        try:
            return await self._relay_events(
                http, settings.notifier_url, jobs, job_id, client, last, presented, release
            )
        except BaseException:
            release()
            raise

    async def _relay_events(
        self,
        http: httpx.AsyncClient,
        notifier_url: str,
        jobs: JobService,
        job_id: UUID,
        client: Client,
        last: str | None,
        presented: str | None,
        release: Callable[[], None],
    ) -> Response[bytes] | Stream:
        headers = {
            "Authorization": f"Bearer {presented}",
            "Accept": "text/event-stream",
            # The notifier counts streams per client too (it trusts this gateway's word).
            "X-Forwarded-For": client.ip,
        }
        if last:
            headers["Last-Event-ID"] = last
        url = f"{notifier_url.rstrip('/')}/api/jobs/{job_id}/events"
        upstream_req = http.build_request("GET", url, headers=headers)
        try:
            upstream = await http.send(upstream_req, stream=True)
        except httpx.HTTPError as exc:
            raise Problem(
                503, f"the progress service is unreachable ({type(exc).__name__})"
            ) from exc
        if upstream.status_code != 200:
            body = await upstream.aread()
            await upstream.aclose()
            release()
            return Response(
                body,
                status_code=upstream.status_code,
                media_type=upstream.headers.get("content-type", "application/json"),
            )

        async def relay() -> AsyncIterator[bytes]:
            pending = b""
            try:
                async for chunk in upstream.aiter_raw():
                    pending += chunk
                    # Whole events only (they end with a blank line), so a final one can
                    # be held back until this API serves the same answer.
                    *parts, pending = _EVENT_END.split(pending)
                    for event, end in zip(parts[::2], parts[1::2], strict=True):
                        if _FINAL.search(event):
                            await _until_projected(jobs, job_id)
                        yield event + end
                if pending:
                    yield pending
            finally:
                release()
                await upstream.aclose()

        stream = relay()
        # A stream the server never starts (the client left first) still gives its slot back.
        weakref.finalize(stream, release)
        return Stream(
            stream,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
