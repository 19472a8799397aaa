"""Jobs: create one from an upload and clicks, render one again, track one again, cancel one.

Plain code over the ports of ``ports.py``: no Litestar, asyncpg or S3 here, so each rule is
unit-tested with in-memory fakes (``tests/unit/gateway/test_gateway_usecases.py``) and the
controllers only parse the request, call one method and turn a ``Refused`` into an answer.

Failures cost, so ``create`` checks in order of what a check costs: what the request and
the upload's row say (no store), the monthly quota (one query), the upload's size and ETag
(one HEAD), its probe (a download and a capped child process, once per ETag), and only then
writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from uuid import UUID, uuid4

from tapmask_gateway.domain.clients import Client
from tapmask_gateway.domain.quotas import (
    RateLimiter,
    Tier,
    check_quota,
    month_of,
    seconds_until_next_month,
)
from tapmask_gateway.domain.records import JobRow, NewJob
from tapmask_gateway.domain.tokens import job_token, token_hash, token_matches
from tapmask_gateway.domain.uploads import click_problem, input_key
from tapmask_gateway.settings import Settings
from tapmask_gateway.usecases.errors import Refusal, Refused
from tapmask_gateway.usecases.ports import (
    CHANGED,
    CheckedUpload,
    JobRepository,
    ProbeBusy,
    ProbeRejected,
    QuotaExceeded,
    UploadAlreadyUsed,
    UploadChanged,
    UploadProbe,
    UploadStore,
)
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
from tapmask_schemas.topics import JOB_CREATED, MASKS_READY

CANCELLED_REASON = "cancelled by you"


@dataclass(frozen=True, slots=True)
class JobOrder:
    """What a person asks of a new job: the upload, the clicks, the mode and effect."""

    upload_key: str
    clicks: tuple[ClickPoint, ...]
    mode: ProcessingMode
    effect: Effect | None = None
    auto_faces: bool = False


@dataclass(frozen=True, slots=True)
class Download:
    url: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class CreatedJob:
    job_id: UUID
    #: The job's access token (only its hash is stored): given out once, here.
    token: str


def _not_found() -> Refused:
    # The same answer for a job that doesn't exist and one whose token is wrong,
    # so a job id alone reveals nothing.
    return Refused(Refusal.NOT_FOUND, "no such job (or the access token does not match it)")


def _upload_used() -> Refused:
    return Refused(
        Refusal.CONFLICT, "this upload was already used by another job", reason="upload_used"
    )


def _finished(status: JobStatus) -> str:
    return {
        JobStatus.COMPLETED: "completed: download the result",
        JobStatus.FAILED: "failed",
        JobStatus.EXPIRED: "expired",
        JobStatus.CANCELLED: "been cancelled",
    }.get(status, "finished")


def _usable(job: JobRow) -> None:
    if job.state.status is JobStatus.EXPIRED:
        raise Refused(
            Refusal.GONE, "this job's files have expired and were deleted: upload the video again"
        )


class JobService:
    """The job use cases of one gateway, over its ports; the clock, the monotonic clock of
    the probe rate and the job ids are passed in too, so a test fixes them."""

    def __init__(
        self,
        repo: JobRepository,
        store: UploadStore,
        probe: UploadProbe,
        settings: Settings,
        limiter: RateLimiter,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        new_id: Callable[[], UUID] = uuid4,
    ) -> None:
        self.repo = repo
        self.store = store
        self.probe = probe
        self.settings = settings
        self.limiter = limiter
        self.clock = clock
        self.monotonic = monotonic
        self.new_id = new_id

    # --- reading -------------------------------------------------------------------------

    def check_token(self, job_id: UUID, presented: str | None) -> None:
        """NOT_FOUND unless ``presented`` is the job's token (no query: the token is an HMAC
        of the job id)."""
        if not token_matches(self.settings.token_secret.get_secret_value(), job_id, presented):
            raise _not_found()

    async def authorized(self, job_id: UUID, presented: str | None) -> JobRow:
        """The job, when ``presented`` is its token; else NOT_FOUND, as for no job at all."""
        self.check_token(job_id, presented)
        job = await self.repo.get_job(job_id)
        if job is None:
            raise _not_found()
        return job

    async def usable(self, job_id: UUID, presented: str | None) -> JobRow:
        """An authorized job whose files are still there (GONE once expired)."""
        job = await self.authorized(job_id, presented)
        _usable(job)
        return job

    async def result(self, job_id: UUID, presented: str | None) -> Download:
        """Where to download the finished video: GONE once expired; CONFLICT until it is
        completed (with ``retry_after_s`` while it runs: the progress stream can say
        "completed" a moment before the job's row does)."""
        job = await self.authorized(job_id, presented)
        state = job.state
        if state.status is JobStatus.EXPIRED:
            raise Refused(Refusal.GONE, "the result has expired and was deleted")
        if state.status is not JobStatus.COMPLETED or state.output_key is None:
            raise Refused(
                Refusal.CONFLICT,
                f"the job is {state.status.value} ({state.stage.value}); "
                "the video can be downloaded once it is completed",
                retry_after_s=None if state.status.is_final else 1,
            )
        return await self._download(state.output_key, f"tapmask-{job.id}.mp4")

    async def original(self, job_id: UUID, presented: str | None) -> Download:
        """Where to download the job's input video (before/after views, after a reload)."""
        job = await self.usable(job_id, presented)
        return await self._download(job.upload_key, f"original-{job.id}")

    async def _download(self, key: str, filename: str) -> Download:
        expires = self.settings.download_expiry_s
        return Download(await self.store.presign_download(key, filename, expires), expires)

    async def finished(self, job_id: UUID) -> bool:
        """Whether the job's state is final (or the job is gone)."""
        job = await self.repo.get_job(job_id)
        return job is None or job.state.status.is_final

    # --- a new job from an upload --------------------------------------------------------

    async def create(self, client: Client, order: JobOrder) -> CreatedJob:
        upload = await self.repo.find_upload(order.upload_key)
        if upload is None or upload.subject != client.subject:
            raise Refused(
                Refusal.NOT_FOUND,
                f"no upload {order.upload_key!r} for this client: get one from "
                "POST /api/upload/presigned",
                reason="unknown_upload",
            )
        if upload.job_id is not None:
            raise _upload_used()
        # Cheap checks first: what needs no store, no probe.
        clicks = list(order.clicks)
        objects = len({p.object_id for p in clicks if p.positive})
        most = self.settings.limits.max_objects
        if objects > most:
            raise Refused(
                Refusal.INVALID,
                f"{objects} objects clicked; a job can follow at most {most}",
                reason="too_many_objects",
            )

        now = self.clock()
        limit = await self._quota_left(client, now)

        head = await self.store.head(upload.key)
        if head is None:
            raise Refused(
                Refusal.CONFLICT,
                "the file has not been uploaded yet: send it to the presigned URL first",
                reason="upload_missing",
            )
        size, etag = head
        if size != upload.size_bytes:
            raise Refused(
                Refusal.INVALID,
                f"the upload is {size} bytes but {upload.size_bytes} were announced",
                reason="size_mismatch",
            )
        try:
            cached = await self.probe.known(upload.key, etag)
            checked = cached or await self._probe(client, upload.key, etag)
        except ProbeRejected as exc:
            raise Refused(Refusal.INVALID, str(exc), reason="bad_video") from exc
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
                raise Refused(Refusal.INVALID, problem, reason="bad_click")

        job_id = self.new_id()
        # The job reads its own copy of exactly the bytes probed above, never the upload key
        # (which its presigned POST can still overwrite).
        pinned = input_key(job_id, PurePosixPath(upload.key).suffix)
        try:
            await self.store.pin(upload.key, pinned, checked.etag)
        except UploadChanged:
            raise Refused(Refusal.CONFLICT, CHANGED, reason="upload_changed") from None
        token = job_token(self.settings.token_secret.get_secret_value(), job_id)
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
        effect = order.effect or Effect.BLUR
        event = JobCreated(
            job_id=job_id,
            upload_key=pinned,
            mode=order.mode,
            effect=effect,
            points=clicks,
            video=video,
            auto_faces=order.auto_faces,
        )
        hours = self.settings.quotas.of(client.tier).retention_hours
        new = NewJob(
            id=job_id,
            access_token_hash=token_hash(token),
            mode=order.mode.value,
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
            await self._record(client, new, event, JOB_CREATED, now, limit, upload.key)
        except Refused:
            await self.store.delete([pinned])  # the copy of a job that never was
            raise
        return CreatedJob(job_id, token)

    async def _probe(self, client: Client, key: str, etag: str) -> CheckedUpload:
        """Probe bytes not probed before: counted against the client (a refused probe
        costs the same download and child process as an accepted one), and refused at
        once when every probe slot stays busy, rather than queueing without end."""
        limits = self.settings.quotas.of(client.tier)
        per_minute, burst = limits.probes_per_minute, limits.probe_burst
        wait = self.limiter.hit(f"probe:{client.subject}", per_minute, burst, self.monotonic())
        if wait:
            raise Refused(
                Refusal.TOO_MANY,
                f"too many videos checked: at most {per_minute} a minute; retry in {wait} s",
                reason="probe_rate",
                retry_after_s=wait,
            )
        try:
            return await self.probe.probe(key, etag)
        except ProbeBusy:
            raise Refused(
                Refusal.BUSY,
                "every video check is busy: retry in a few seconds",
                reason="busy",
                retry_after_s=5,
            ) from None

    # --- a new job from a finished one ---------------------------------------------------

    async def render_again(
        self,
        client: Client,
        job_id: UUID,
        presented: str | None,
        mode: ProcessingMode,
        effect: Effect | None = None,
    ) -> CreatedJob:
        """Track once, render many: a new job renders this job's stored masks with another
        mode or effect (its masks-ready event goes straight to the renderer). CONFLICT until
        this job's masks are ready."""
        job = await self.usable(job_id, presented)
        if job.state.masks_key is None and job.state.status.is_final:
            # No outline will ever come: a Retry-After here had clients retry forever.
            raise Refused(
                Refusal.CONFLICT,
                f"this job has {_finished(job.state.status)} before the object's outline was "
                "made, so there is nothing to render again: run it again or start a new job",
            )
        if job.state.masks_key is None:
            raise Refused(
                Refusal.CONFLICT,
                "the object's outline is not ready yet: render again once this job has "
                "followed the object",
                retry_after_s=2,
            )
        # No clicks of its own: it renders the masks the first job's clicks gave.
        return await self._new_job(client, job, mode, effect or Effect.BLUR, [], MASKS_READY)

    async def rerun(
        self,
        client: Client,
        job_id: UUID,
        presented: str | None,
        points: list[ClickPoint],
        mode: ProcessingMode | None = None,
        effect: Effect | None = None,
        auto_faces: bool = False,
    ) -> CreatedJob:
        """A new job tracking the same video from the clicks given (e.g. the first ones plus
        a correction on a later frame); mode and effect default to the first job's."""
        job = await self.usable(job_id, presented)
        if not any(p.positive for p in points):
            raise Refused(Refusal.INVALID, "click on the object at least once (a positive point)")
        video = VideoInfo.model_validate(job.video)
        for point in points:
            problem = click_problem(
                point.x,
                point.y,
                point.frame,
                video.display_width or video.width,
                video.display_height or video.height,
                video.frame_count,
            )
            if problem:
                raise Refused(Refusal.INVALID, problem, reason="bad_click")
        return await self._new_job(
            client,
            job,
            mode or ProcessingMode(job.mode),
            effect or Effect(job.effect),
            list(points),
            JOB_CREATED,
            auto_faces=auto_faces,
        )

    async def _new_job(
        self,
        client: Client,
        source: JobRow,
        mode: ProcessingMode,
        effect: Effect,
        points: list[ClickPoint],
        topic: str,
        auto_faces: bool = False,
    ) -> CreatedJob:
        """A job on ``source``'s input file, sharing its expiry (the files go together)."""
        now = self.clock()
        limit = await self._quota_left(client, now)
        job_id = self.new_id()
        token = job_token(self.settings.token_secret.get_secret_value(), job_id)
        video = VideoInfo.model_validate(source.video)
        event: MasksReady | JobCreated
        if topic == MASKS_READY:
            state = source.state
            assert state.masks_key is not None
            event = MasksReady(
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
        new = NewJob(
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
        await self._record(client, new, event, topic, now, limit, None)
        return CreatedJob(job_id, token)

    async def _record(
        self,
        client: Client,
        new: NewJob,
        event: JobCreated | MasksReady,
        topic: str,
        now: datetime,
        limit: int,
        claim: str | None,
    ) -> None:
        """The job and its event stored together, counted against the client's month (and
        claiming the upload ``claim``, when given); ``Refused`` when the quota was used up
        or the upload claimed meanwhile."""
        try:
            await self.repo.add_job(
                new,
                event,
                topic=topic,
                subject=client.subject,
                month=month_of(now),
                quota=limit,
                claim=claim,
            )
        except QuotaExceeded:
            raise _quota_used_up(limit, now) from None
        except UploadAlreadyUsed:
            raise _upload_used() from None

    # --- cancelling ----------------------------------------------------------------------

    async def cancel(self, job_id: UUID, presented: str | None) -> None:
        """The job ends as cancelled at once (its progress stream says so); the marker in
        the bucket tells the workers (``tapmask_runtime.cancels``). CONFLICT once the job
        has finished. It still counts against the monthly quota."""
        job = await self.authorized(job_id, presented)
        if job.state.status.is_final:
            raise Refused(Refusal.CONFLICT, f"the job has already {_finished(job.state.status)}")
        # The marker first: once the job reads as cancelled, no stage may start it.
        await self.store.put_marker(cancel_key(job_id))

        def progress(stage: Stage, percent: float) -> JobProgress:
            return JobProgress(
                job_id=job_id,
                status=JobStatus.CANCELLED,
                stage=stage,
                percent=percent,
                message="Cancelled",
            )

        done = await self.repo.cancel(
            job_id,
            running=[s for s in JobStatus if not s.is_final],
            reason=CANCELLED_REASON,
            event_for=progress,
        )
        if not done:
            latest = await self.repo.get_job(job_id)
            status = latest.state.status if latest else JobStatus.COMPLETED
            raise Refused(Refusal.CONFLICT, f"the job has already {_finished(status)}")

    # --- quota ---------------------------------------------------------------------------

    def monthly_videos(self, client: Client) -> int:
        """The client's monthly quota: per key for pro (or the pro default), else the free one."""
        own = client.api_key.videos_per_month if client.api_key else None
        if client.tier is Tier.PRO and own:
            return own
        return self.settings.quotas.of(client.tier).videos_per_month

    async def _quota_left(self, client: Client, now: datetime) -> int:
        """The client's monthly limit; TOO_MANY naming the use when none is left."""
        limit = self.monthly_videos(client)
        used = await self.repo.videos_used(client.subject, month_of(now))
        decision = check_quota(used, limit, now)
        if not decision.allowed:
            raise Refused(
                Refusal.TOO_MANY,
                f"monthly quota used up: {decision.used} of {decision.limit} videos this month",
                reason="quota",
                retry_after_s=decision.retry_after_s,
            )
        return limit


def _quota_used_up(limit: int, now: datetime) -> Refused:
    """When the job's insert finds the month's quota used up meanwhile."""
    return Refused(
        Refusal.TOO_MANY,
        f"monthly quota used up: {limit} videos this month",
        reason="quota",
        retry_after_s=seconds_until_next_month(now),
    )
