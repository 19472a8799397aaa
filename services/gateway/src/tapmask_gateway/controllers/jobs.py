"""Jobs: create one from an upload and a click, read its state, download, follow its events."""

from __future__ import annotations

import asyncio
import re
import time
import weakref
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import anyio.to_thread
import httpx
from litestar import Controller, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Stream
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tapmask_gateway.adapters import db
from tapmask_gateway.adapters.probe import (
    CHANGED,
    CheckedUpload,
    ProbeRejected,
    cached_probe,
    probe_upload,
)
from tapmask_gateway.adapters.s3 import UploadChanged
from tapmask_gateway.context import Client, Gateway
from tapmask_gateway.controllers.deps import AnyRequest, GatewayDep, Problem, client_of
from tapmask_gateway.domain.jobs import stage_durations
from tapmask_gateway.domain.quotas import Tier, check_quota, month_of, seconds_until_next_month
from tapmask_gateway.domain.tokens import bearer_token, job_token, token_hash, token_matches
from tapmask_gateway.domain.uploads import click_problem, input_key
from tapmask_gateway.settings import Settings
from tapmask_schemas import (
    ClickPoint,
    Effect,
    JobCreated,
    JobStatus,
    ProcessingMode,
    ReviewRange,
    VideoInfo,
)
from tapmask_schemas.jobs import Integer, Number
from tapmask_schemas.topics import JOB_CREATED, key_for

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
    access_token: str = Field(description="Send as `Authorization: Bearer` or `?token=`.")
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


def _not_found() -> Problem:
    # The same answer for a job that doesn't exist and one whose token is wrong,
    # so a job id alone reveals nothing.
    return Problem(404, "no such job (or the access token does not match it)")


async def _authorized_job(
    gw: Gateway, job_id: UUID, request: AnyRequest, token: str | None
) -> db.JobRow:
    presented = bearer_token(request.headers.get("authorization"), token)
    if not token_matches(gw.settings.token_secret.get_secret_value(), job_id, presented):
        raise _not_found()
    job = await db.get_job(gw.db, job_id)
    if job is None:
        raise _not_found()
    return job


_FINAL = re.compile(rb'^data: .*"status": ?"(completed|failed)"', re.MULTILINE)
# An event ends with an empty line; SSE lines end in CRLF, LF or CR (kept as they came).
_EVENT_END = re.compile(rb"(\r\n\r\n|\n\n|\r\r)")
#: Longest a final event is held for the job's row to say the same (the projector lags the
#: notifier by milliseconds to a second; past this the event goes out anyway).
_PROJECTION_WAIT_S = 10.0


async def _until_projected(gw: Gateway, job_id: UUID) -> None:
    """Wait until the job's row is final: the stream said "completed" while GET said
    "processing" and the download answered 409 in 2 of 4 runs of a plain client (issue 9),
    because the notifier and this gateway's projector read the events independently."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _PROJECTION_WAIT_S
    while loop.time() < deadline:
        job = await db.get_job(gw.db, job_id)
        if job is None or job.state.status.is_final:
            return
        await asyncio.sleep(0.1)


def _monthly_videos(settings: Settings, client: Client) -> int:
    """The client's monthly quota: per key for pro (or the pro default), else the free one."""
    if client.tier is Tier.PRO:
        own = client.api_key.videos_per_month if client.api_key else None
        return own or settings.quotas.pro_videos_per_month
    return settings.quotas.free_videos_per_month


async def _quota_left(gw: Gateway, client: Client, now: datetime) -> tuple[date, int]:
    """This month and the client's monthly limit; a 429 naming the use when none is left."""
    month = month_of(now)
    limit = _monthly_videos(gw.settings, client)
    decision = check_quota(await db.videos_used(gw.db, client.subject, month), limit, now)
    if not decision.allowed:
        gw.metrics.rejected.labels("quota").inc()
        raise Problem(
            429,
            f"monthly quota used up: {decision.used} of {decision.limit} videos this month",
            headers={"Retry-After": str(decision.retry_after_s)},
        )
    return month, limit


def _quota_used_up(gw: Gateway, limit: int, now: datetime) -> Problem:
    """The 429 when the job's insert finds the month's quota used up meanwhile."""
    gw.metrics.rejected.labels("quota").inc()
    return Problem(
        429,
        f"monthly quota used up: {limit} videos this month",
        headers={"Retry-After": str(seconds_until_next_month(now))},
    )


def _created(gw: Gateway, client: Client, job_id: UUID, token: str) -> CreateJobResponse:
    """A job row and its event are in the outbox: wake the relay, count it, answer."""
    gw.relay_wake.set()
    gw.metrics.jobs_created.labels(client.tier.value).inc()
    return CreateJobResponse(
        job_id=job_id,
        status=JobStatus.PENDING,
        access_token=token,
        events_url=f"/api/jobs/{job_id}/events?token={token}",
        status_url=f"/api/jobs/{job_id}",
    )


def _reject(gw: Gateway, status: int, reason: str, detail: str) -> Problem:
    gw.metrics.rejected.labels(reason).inc()
    return Problem(status, detail)


class JobController(Controller):
    path = "/api/jobs"
    tags = ["jobs"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post("/", status_code=201, summary="Start a job on an uploaded video")
    async def create(
        self, data: JSONBody[CreateJobRequest], gw: GatewayDep, request: AnyRequest
    ) -> CreateJobResponse:
        client = client_of(request)
        settings = gw.settings
        upload = await db.find_upload(gw.db, data.upload_key)
        if upload is None or upload.subject != client.subject:
            raise _reject(
                gw,
                404,
                "unknown_upload",
                f"no upload {data.upload_key!r} for this client: get one from "
                "POST /api/upload/presigned",
            )
        if upload.job_id is not None:
            raise _reject(gw, 409, "upload_used", "this upload was already used by another job")
        # Cheap checks first: what needs no store, no probe.
        first = (
            [ClickPoint(x=data.click_x, y=data.click_y, frame=data.frame)]
            if data.click_x is not None and data.click_y is not None
            else []
        )
        clicks = [*first, *(data.points or [])]
        objects = len({p.object_id for p in clicks if p.positive})
        if objects > settings.limits.max_objects:
            raise _reject(
                gw,
                422,
                "too_many_objects",
                f"{objects} objects clicked; a job can follow at most "
                f"{settings.limits.max_objects}",
            )

        now = datetime.now(UTC)
        month, limit = await _quota_left(gw, client, now)

        size = await anyio.to_thread.run_sync(gw.s3.object_size, upload.key)
        if size is None:
            raise _reject(
                gw,
                409,
                "upload_missing",
                "the file has not been uploaded yet: send it to the presigned URL first",
            )
        if size != upload.size_bytes:
            raise _reject(
                gw,
                422,
                "size_mismatch",
                f"the upload is {size} bytes but {upload.size_bytes} were announced",
            )
        try:
            etag, cached = await cached_probe(gw.s3, upload.key, gw.probed)
            checked = cached or await self._probe(gw, client, upload.key, etag)
        except ProbeRejected as exc:
            raise _reject(gw, 422, "bad_video", str(exc)) from exc
        info = checked.info

        for point in clicks:
            # Clicks come in displayed pixels (the browser's videoWidth x videoHeight,
            # after the file's rotation); the tracker maps them to decoded pixels.
            problem = click_problem(
                point.x,
                point.y,
                point.frame,
                info.display_width,
                info.display_height,
                info.frame_count,
            )
            if problem:
                raise _reject(gw, 422, "bad_click", problem)

        job_id = uuid4()
        # The job reads its own copy of exactly the bytes probed above, never the upload key
        # (which its presigned POST can still overwrite).
        pinned = input_key(job_id, Path(upload.key).suffix)
        try:
            await anyio.to_thread.run_sync(gw.s3.pin, upload.key, pinned, checked.etag)
        except UploadChanged:
            raise _reject(gw, 409, "upload_changed", CHANGED) from None
        token = job_token(settings.token_secret.get_secret_value(), job_id)
        video = VideoInfo(
            width=info.width,
            height=info.height,
            frame_count=info.frame_count,
            duration_seconds=info.duration_s,
            fps=float(info.fps or 0),
            has_audio=info.has_audio,
            rotation=info.rotation,
            display_width=info.display_width,
            display_height=info.display_height,
        )
        effect = data.effect or Effect.BLUR
        event = JobCreated(
            job_id=job_id,
            upload_key=pinned,
            mode=data.processing_mode,
            effect=effect,
            points=clicks,
            video=video,
            auto_faces=data.auto_faces,
        )
        hours = (
            settings.quotas.pro_retention_hours
            if client.tier is Tier.PRO
            else settings.quotas.free_retention_hours
        )
        new = db.NewJob(
            id=job_id,
            access_token_hash=token_hash(token),
            mode=data.processing_mode.value,
            effect=effect.value,
            points=[p.model_dump() for p in clicks],
            upload_key=pinned,
            video=video.model_dump() | {"codec": info.video_codec, "format": info.format_name},
            client_ip=client.ip,
            api_key_id=client.api_key.id if client.api_key else None,
            tier=client.tier.value,
            expires_at=now + timedelta(hours=hours),
        )
        try:
            await db.create_job(
                gw.db,
                new,
                subject=client.subject,
                month=month,
                quota=limit,
                claim=upload.key,
                topic=JOB_CREATED,
                key=key_for(job_id),
                event=event.model_dump(mode="json"),
            )
        except db.QuotaExceeded:
            await anyio.to_thread.run_sync(gw.s3.delete, [pinned])
            raise _quota_used_up(gw, limit, now) from None
        except db.UploadAlreadyUsed:
            await anyio.to_thread.run_sync(gw.s3.delete, [pinned])
            raise _reject(
                gw, 409, "upload_used", "this upload was already used by another job"
            ) from None
        return _created(gw, client, job_id, token)

    async def _probe(self, gw: Gateway, client: Client, key: str, etag: str) -> CheckedUpload:
        """Probe bytes not probed before: counted against the client (a refused probe
        costs the same download and child process as an accepted one), and refused at
        once when every probe slot stays busy, rather than queueing without end."""
        quotas = gw.settings.quotas
        if client.tier is Tier.PRO:
            per_minute, burst = quotas.pro_probes_per_minute, quotas.pro_probe_burst
        else:
            per_minute, burst = quotas.free_probes_per_minute, quotas.free_probe_burst
        wait = gw.limiter.hit(f"probe:{client.subject}", per_minute, burst, time.monotonic())
        if wait:
            gw.metrics.rejected.labels("probe_rate").inc()
            raise Problem(
                429,
                f"too many videos checked: at most {per_minute} a minute; retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        limits = gw.settings.limits
        try:
            async with asyncio.timeout(limits.probe_queue_timeout_s):
                await gw.probe_slots.acquire()
        except TimeoutError:
            gw.metrics.rejected.labels("busy").inc()
            raise Problem(
                503,
                "every video check is busy: retry in a few seconds",
                headers={"Retry-After": "5"},
            ) from None
        try:
            return await probe_upload(gw.s3, key, limits, gw.probed, etag)
        finally:
            gw.probe_slots.release()

    @get("/{job_id:uuid}", summary="A job's state")
    async def read(
        self,
        job_id: FromPath[UUID],
        gw: GatewayDep,
        request: AnyRequest,
        token: FromQuery[str | None] = None,
    ) -> JobView:
        job = await _authorized_job(gw, job_id, request, token)
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
        gw: GatewayDep,
        request: AnyRequest,
        token: FromQuery[str | None] = None,
    ) -> DownloadView:
        job = await _authorized_job(gw, job_id, request, token)
        state = job.state
        if state.status is JobStatus.EXPIRED:
            raise Problem(410, "the result has expired and was deleted")
        if state.status is not JobStatus.COMPLETED or state.output_key is None:
            # The progress stream can say "completed" a moment before this projection
            # does: a running job tells the client when to ask again.
            running = not state.status.is_final
            raise Problem(
                409,
                f"the job is {state.status.value} ({state.stage.value}); "
                "the video can be downloaded once it is completed",
                headers={"Retry-After": "1"} if running else None,
            )
        expires = gw.settings.download_expiry_s
        url = await anyio.to_thread.run_sync(
            gw.s3.presign_download, state.output_key, f"tapmask-{job.id}.mp4", expires
        )
        return DownloadView(url=url, expires_in=expires)

    @get("/{job_id:uuid}/events", summary="Server-Sent Events of the job (from the notifier)")
    async def events(
        self,
        job_id: FromPath[UUID],
        gw: GatewayDep,
        request: AnyRequest,
        token: FromQuery[str | None] = None,
    ) -> Response[bytes] | Stream:
        """Forwarded to the notifier, so the browser stays on one origin."""
        presented = bearer_token(request.headers.get("authorization"), token)
        if not token_matches(gw.settings.token_secret.get_secret_value(), job_id, presented):
            raise _not_found()
        assert gw.http is not None
        last = request.headers.get("last-event-id")
        if last and not _EVENT_ID.fullmatch(last):
            # Ids this stream sends are digits; anything else (bytes that are not text) is
            # refused here rather than failing as a 500 on the way to the notifier.
            raise Problem(400, "Last-Event-ID must be the id of an event this stream sent")
        subject, job = client_of(request).subject, str(job_id)
        refused = gw.streams.open(subject, job)
        if refused:
            gw.metrics.rejected.labels("event_streams").inc()
            raise Problem(429, refused, headers={"Retry-After": "5"})
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                gw.streams.close(subject, job)

        try:
            return await self._relay_events(gw, job_id, request, presented, release)
        except BaseException:
            release()
            raise

    async def _relay_events(
        self,
        gw: Gateway,
        job_id: UUID,
        request: AnyRequest,
        presented: str | None,
        release: Callable[[], None],
    ) -> Response[bytes] | Stream:
        assert gw.http is not None
        headers = {
            "Authorization": f"Bearer {presented}",
            "Accept": "text/event-stream",
            # The notifier counts streams per client too (it trusts this gateway's word).
            "X-Forwarded-For": client_of(request).ip,
        }
        last = request.headers.get("last-event-id")
        if last:
            headers["Last-Event-ID"] = last
        url = f"{gw.settings.notifier_url.rstrip('/')}/api/jobs/{job_id}/events"
        upstream_req = gw.http.build_request("GET", url, headers=headers)
        try:
            upstream = await gw.http.send(upstream_req, stream=True)
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
                            await _until_projected(gw, job_id)
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
