"""The job use cases (``tapmask_gateway.usecases.jobs``) over in-memory fakes of their ports.

What a person starting, re-rendering or cancelling a job would see: which request is refused
and with what words, that a refused request leaves nothing behind (no job, no event, no quota
used, no copy of the video), and that cheap checks come before costly ones. The real
adapters are proven by ``tests/integration/gateway`` (PostgreSQL, S3, Kafka).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from uuid import UUID, uuid4

import pytest
from pydantic import SecretStr

from tapmask_gateway.domain.clients import Client
from tapmask_gateway.domain.jobs import JobState
from tapmask_gateway.domain.quotas import RateLimiter, Tier
from tapmask_gateway.domain.records import ApiKey, JobRow, NewJob, UploadRow
from tapmask_gateway.settings import Quotas, Settings, VideoLimits
from tapmask_gateway.usecases.errors import Refusal, Refused
from tapmask_gateway.usecases.jobs import CANCELLED_REASON, JobOrder, JobService
from tapmask_gateway.usecases.ports import (
    CheckedUpload,
    PresignedPost,
    ProbeBusy,
    ProbeRejected,
    QuotaExceeded,
    UploadAlreadyUsed,
    UploadChanged,
)
from tapmask_gateway.usecases.uploads import UploadService
from tapmask_media.probe import VideoInfo
from tapmask_schemas import (
    ClickPoint,
    Effect,
    JobCreated,
    JobProgress,
    JobStatus,
    MasksReady,
    ProcessingMode,
    ReviewRange,
    Stage,
)
from tapmask_schemas.topics import JOB_CREATED, MASKS_READY

NOW = datetime(2026, 11, 30, 23, 59, 0, tzinfo=UTC)  # a minute before December
SECRET = "unit-test-secret-of-at-least-32-characters"
ME = Client(ip="198.51.100.7", tier=Tier.FREE, pepper=b"pepper")
SOMEONE_ELSE = Client(ip="203.0.113.9", tier=Tier.FREE, pepper=b"pepper")
UPLOAD = "uploads/clip.mp4"
SIZE = 1234


def video_info(width: int = 640, height: int = 360, frames: int = 50) -> VideoInfo:
    return VideoInfo(
        width=width,
        height=height,
        rotation=0,
        display_matrix=None,
        frame_count=frames,
        fps=Fraction(25),
        time_base=Fraction(1, 12800),
        duration_s=frames / 25,
        has_audio=True,
        video_codec="h264",
        audio_codec="aac",
        format_name="mov,mp4,m4a,3gp,3g2,mj2",
        pix_fmt="yuv420p",
    )


# --- fakes of the ports ------------------------------------------------------------------------


@dataclass
class FakeRepo:
    """Jobs, uploads, monthly counts and the outbox in dicts, all-or-nothing like the
    PostgreSQL adapter's transactions."""

    uploads: dict[str, UploadRow] = field(default_factory=dict)
    jobs: dict[UUID, JobRow] = field(default_factory=dict)
    used: dict[tuple[str, date], int] = field(default_factory=dict)
    outbox: list[tuple[str, JobCreated | MasksReady | JobProgress]] = field(default_factory=list)
    #: Another request takes the last of the quota / the upload between check and insert.
    race_quota: bool = False
    race_claim: bool = False

    async def find_upload(self, key: str) -> UploadRow | None:
        return self.uploads.get(key)

    async def videos_used(self, subject: str, month: date) -> int:
        return self.used.get((subject, month), 0)

    async def get_job(self, job_id: UUID) -> JobRow | None:
        return self.jobs.get(job_id)

    async def add_upload(
        self,
        key: str,
        content_type: str,
        size: int,
        subject: str,
        expires_at: datetime,
        unused_per_hour: int,
    ) -> bool:
        # Every upload here was presigned within the hour.
        unused = [u for u in self.uploads.values() if u.subject == subject and u.job_id is None]
        if len(unused) >= unused_per_hour:
            return False
        self.uploads[key] = UploadRow(key, content_type, size, subject, expires_at, None)
        return True

    async def add_job(
        self,
        job: NewJob,
        event: JobCreated | MasksReady,
        *,
        topic: str,
        subject: str,
        month: date,
        quota: int,
        claim: str | None,
    ) -> None:
        if self.race_quota or self.used.get((subject, month), 0) >= quota:
            raise QuotaExceeded
        if claim is not None:
            upload = self.uploads[claim]
            if self.race_claim or upload.job_id is not None:
                raise UploadAlreadyUsed
            self.uploads[claim] = replace(upload, job_id=job.id)
        self.used[(subject, month)] = self.used.get((subject, month), 0) + 1
        self.jobs[job.id] = JobRow(
            id=job.id,
            access_token_hash=job.access_token_hash,
            state=JobState(),
            mode=job.mode,
            effect=job.effect,
            upload_key=job.upload_key,
            video=job.video,
            tier=job.tier,
            created_at=NOW,
            updated_at=NOW,
            expires_at=job.expires_at,
        )
        self.outbox.append((topic, event))

    async def cancel(
        self,
        job_id: UUID,
        *,
        running: list[JobStatus],
        reason: str,
        event_for: Callable[[Stage, float], JobProgress],
    ) -> bool:
        job = self.jobs[job_id]
        if job.state.status not in running:
            return False
        state = replace(job.state, status=JobStatus.CANCELLED, error=reason)
        self.jobs[job_id] = replace(job, state=state)
        self.outbox.append(("job-progress", event_for(state.stage, state.percent)))
        return True


@dataclass
class FakeStore:
    """Objects by key (size, ETag); records what the use cases did to it, in order."""

    objects: dict[str, tuple[int, str]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    #: The upload is re-posted between its check and its copy.
    changes_before_pin: bool = False

    async def size(self, key: str) -> int | None:
        self.calls.append(f"size {key}")
        found = self.objects.get(key)
        return None if found is None else found[0]

    async def head(self, key: str) -> tuple[int, str] | None:
        self.calls.append(f"head {key}")
        return self.objects.get(key)

    async def pin(self, key: str, dest: str, etag: str) -> None:
        self.calls.append(f"pin {key}")
        if self.changes_before_pin or self.objects[key][1] != etag:
            raise UploadChanged(key)
        self.objects[dest] = self.objects[key]

    async def delete(self, keys: list[str]) -> None:
        self.calls.append(f"delete {' '.join(keys)}")
        for key in keys:
            self.objects.pop(key, None)

    async def put_marker(self, key: str) -> None:
        self.calls.append(f"marker {key}")
        self.objects[key] = (2, "marker")

    async def presign_upload(
        self, key: str, content_type: str, size: int, expires_in: int
    ) -> PresignedPost:
        self.calls.append(f"presign {key}")
        return PresignedPost(
            f"https://store.test/{key}", {"key": key, "Content-Type": content_type}
        )

    async def presign_download(self, key: str, filename: str, expires_in: int) -> str:
        return f"https://store.test/{key}?as={filename}&for={expires_in}"


@dataclass
class FakeProbe:
    """Probes by what each upload "is": its info, or the words refusing it; outcomes kept per
    ETag like the real cache."""

    store: FakeStore
    verdicts: dict[str, VideoInfo | str] = field(default_factory=dict)
    cache: dict[tuple[str, str], CheckedUpload | str] = field(default_factory=dict)
    probes: int = 0
    busy: bool = False

    async def known(self, key: str, etag: str) -> CheckedUpload | None:
        cached = self.cache.get((key, etag))
        if isinstance(cached, str):
            raise ProbeRejected(cached)
        return cached

    async def probe(self, key: str, etag: str) -> CheckedUpload:
        if self.busy:
            raise ProbeBusy
        self.probes += 1
        verdict = self.verdicts[key]
        if isinstance(verdict, str):
            self.cache[(key, etag)] = verdict
            raise ProbeRejected(verdict)
        checked = CheckedUpload(verdict, etag)
        self.cache[(key, etag)] = checked
        return checked


@dataclass
class World:
    repo: FakeRepo
    store: FakeStore
    probe: FakeProbe
    jobs: JobService
    uploads: UploadService

    def upload(
        self,
        key: str = UPLOAD,
        owner: Client = ME,
        *,
        size: int = SIZE,
        stored: int | None = SIZE,
        info: VideoInfo | str | None = None,
    ) -> str:
        """An upload presigned by ``owner`` (``stored`` bytes sent; None: not sent yet)."""
        self.repo.uploads[key] = UploadRow(key, "video/mp4", size, owner.subject, NOW, None)
        if stored is not None:
            self.store.objects[key] = (stored, f"etag-{key}")
        self.probe.verdicts[key] = video_info() if info is None else info
        return key

    def left_nothing(self) -> bool:
        """No job, no event, no quota used, no copy of any upload."""
        copies = [k for k in self.store.objects if k.startswith("inputs/")]
        return not self.repo.jobs and not self.repo.outbox and not self.repo.used and not copies


def make_world(
    *, quotas: Quotas | None = None, max_objects: int = 8, clock_s: list[float] | None = None
) -> World:
    settings = Settings(
        token_secret=SecretStr(SECRET),
        quotas=quotas or Quotas(free_videos_per_month=3),
        limits=VideoLimits(max_objects=max_objects, max_upload_bytes=500_000_000),
        upload_expiry_s=900,
        download_expiry_s=3600,
    )
    repo, store = FakeRepo(), FakeStore()
    probe = FakeProbe(store)
    ticks = clock_s if clock_s is not None else [0.0]
    jobs = JobService(
        repo,
        store,
        probe,
        settings,
        RateLimiter(),
        clock=lambda: NOW,
        monotonic=lambda: ticks[0],
    )
    uploads = UploadService(repo, store, settings, clock=lambda: NOW)
    return World(repo, store, probe, jobs, uploads)


def order(key: str = UPLOAD, *points: ClickPoint, **kw: object) -> JobOrder:
    clicks = points or (ClickPoint(x=100, y=80),)
    return JobOrder(upload_key=key, clicks=clicks, mode=ProcessingMode.PRIVACY, **kw)  # type: ignore[arg-type]


async def refusal(call: object) -> Refused:
    with pytest.raises(Refused) as caught:
        await call  # type: ignore[misc]
    return caught.value


# --- creating a job ----------------------------------------------------------------------------


async def test_a_created_job_has_exactly_one_job_created_event_on_its_own_copy() -> None:
    world = make_world()
    world.upload()
    created = await world.jobs.create(ME, order(effect=Effect.PIXELATE))

    assert [topic for topic, _ in world.repo.outbox] == [JOB_CREATED]
    event = world.repo.outbox[0][1]
    assert isinstance(event, JobCreated)
    assert event.job_id == created.job_id
    assert event.points == [ClickPoint(x=100, y=80)]
    assert event.effect is Effect.PIXELATE
    # The job reads its pinned copy of the probed bytes, never the re-postable upload.
    assert event.upload_key == f"inputs/{created.job_id}.mp4"
    assert world.store.objects[event.upload_key] == world.store.objects[UPLOAD]
    assert event.video.display_width == 640 and event.video.frame_count == 50
    assert world.repo.uploads[UPLOAD].job_id == created.job_id
    job = world.repo.jobs[created.job_id]
    assert job.expires_at == NOW + timedelta(hours=24)  # the free tier's retention
    assert job.video["codec"] == "h264"
    # The token given out opens the job; its hash, not the token, is stored.
    assert await world.jobs.authorized(created.job_id, created.token) == job
    assert created.token not in job.access_token_hash


async def test_a_used_up_quota_is_refused_with_when_it_resets_and_nothing_is_inserted() -> None:
    world = make_world(quotas=Quotas(free_videos_per_month=1))
    world.upload("uploads/a.mp4")
    world.upload("uploads/b.mp4")
    await world.jobs.create(ME, order("uploads/a.mp4"))
    probes, jobs, events = world.probe.probes, dict(world.repo.jobs), list(world.repo.outbox)

    refused = await refusal(world.jobs.create(ME, order("uploads/b.mp4")))

    assert refused.kind is Refusal.TOO_MANY and refused.reason == "quota"
    assert refused.detail == "monthly quota used up: 1 of 1 videos this month"
    assert refused.retry_after_s == 60  # the next month starts in a minute
    assert world.repo.jobs == jobs and world.repo.outbox == events
    assert world.probe.probes == probes  # refused before the costly probe
    assert world.repo.uploads["uploads/b.mp4"].job_id is None


async def test_too_many_objects_are_refused_before_the_store_is_asked() -> None:
    world = make_world(max_objects=2)
    world.upload()
    clicks = [ClickPoint(x=10 * i, y=10, object_id=i) for i in range(3)]
    refused = await refusal(world.jobs.create(ME, order(UPLOAD, *clicks)))
    assert refused.kind is Refusal.INVALID and refused.reason == "too_many_objects"
    assert refused.detail == "3 objects clicked; a job can follow at most 2"
    assert world.store.calls == [] and world.probe.probes == 0
    assert world.left_nothing()


async def test_a_click_outside_the_frame_is_refused_and_a_corrected_click_costs_no_new_probe() -> (
    None
):
    world = make_world()
    world.upload()
    refused = await refusal(world.jobs.create(ME, order(UPLOAD, ClickPoint(x=640, y=80))))
    assert refused.kind is Refusal.INVALID and refused.reason == "bad_click"
    assert refused.detail == "click (640, 80) is outside the 640x360 frame"
    assert world.left_nothing()

    await world.jobs.create(ME, order(UPLOAD, ClickPoint(x=639, y=80)))
    assert world.probe.probes == 1  # the same bytes: the first probe's answer


async def test_a_click_past_the_last_frame_is_refused() -> None:
    world = make_world()
    world.upload()
    refused = await refusal(world.jobs.create(ME, order(UPLOAD, ClickPoint(x=5, y=5, frame=50))))
    assert refused.detail == "frame 50 is past the end of the video (50 frames)"
    assert world.left_nothing()


async def test_another_clients_upload_reads_as_no_upload_at_all() -> None:
    world = make_world()
    world.upload(owner=SOMEONE_ELSE)
    mine = await refusal(world.jobs.create(ME, order()))
    missing = await refusal(world.jobs.create(ME, order("uploads/never.mp4")))
    assert mine.kind is Refusal.NOT_FOUND and mine.reason == "unknown_upload"
    assert missing.detail == mine.detail.replace(UPLOAD, "uploads/never.mp4")
    assert world.store.calls == [] and world.left_nothing()


async def test_an_upload_starts_one_job_only() -> None:
    world = make_world()
    world.upload()
    await world.jobs.create(ME, order())
    refused = await refusal(world.jobs.create(ME, order()))
    assert refused.kind is Refusal.CONFLICT and refused.reason == "upload_used"
    assert len(world.repo.jobs) == 1


async def test_a_file_not_sent_yet_is_refused_without_a_probe() -> None:
    world = make_world()
    world.upload(stored=None)
    refused = await refusal(world.jobs.create(ME, order()))
    assert refused.kind is Refusal.CONFLICT and refused.reason == "upload_missing"
    assert "has not been uploaded yet" in refused.detail
    assert world.probe.probes == 0 and world.left_nothing()


async def test_a_file_of_another_size_than_announced_is_refused_without_a_probe() -> None:
    world = make_world()
    world.upload(stored=SIZE + 1)
    refused = await refusal(world.jobs.create(ME, order()))
    assert refused.kind is Refusal.INVALID and refused.reason == "size_mismatch"
    assert refused.detail == f"the upload is {SIZE + 1} bytes but {SIZE} were announced"
    assert world.probe.probes == 0 and world.left_nothing()


async def test_what_is_not_a_video_is_refused_in_the_probes_words_and_not_probed_again() -> None:
    world = make_world()
    world.upload(info="the upload is an image (AVIF), not a video")
    first = await refusal(world.jobs.create(ME, order()))
    again = await refusal(world.jobs.create(ME, order()))
    assert first.kind is Refusal.INVALID and first.reason == "bad_video"
    assert first.detail == again.detail == "the upload is an image (AVIF), not a video"
    assert world.probe.probes == 1
    assert world.left_nothing()


async def test_new_probes_count_against_the_client_and_say_when_to_retry() -> None:
    world = make_world(quotas=Quotas(free_probes_per_minute=4, free_probe_burst=1))
    world.upload("uploads/a.mp4", info="not a video")
    world.upload("uploads/b.mp4")
    await refusal(world.jobs.create(ME, order("uploads/a.mp4")))  # the one probe of the burst
    refused = await refusal(world.jobs.create(ME, order("uploads/b.mp4")))
    assert refused.kind is Refusal.TOO_MANY and refused.reason == "probe_rate"
    assert refused.retry_after_s == 15  # 4 a minute: the next in 15 s
    assert refused.detail == "too many videos checked: at most 4 a minute; retry in 15 s"
    assert world.probe.probes == 1 and world.left_nothing()


async def test_busy_probes_answer_at_once_with_when_to_retry() -> None:
    world = make_world()
    world.upload()
    world.probe.busy = True
    refused = await refusal(world.jobs.create(ME, order()))
    assert refused.kind is Refusal.BUSY and refused.reason == "busy"
    assert refused.retry_after_s == 5
    assert world.left_nothing()


async def test_an_upload_re_posted_during_its_check_never_reaches_a_job() -> None:
    world = make_world()
    world.upload()
    world.store.changes_before_pin = True
    refused = await refusal(world.jobs.create(ME, order()))
    assert refused.kind is Refusal.CONFLICT and refused.reason == "upload_changed"
    assert refused.detail.startswith("the upload changed while it was being checked")
    assert world.left_nothing()


async def test_a_quota_used_up_meanwhile_refuses_and_deletes_the_copy() -> None:
    world = make_world()
    world.upload()
    world.repo.race_quota = True
    refused = await refusal(world.jobs.create(ME, order()))
    assert refused.kind is Refusal.TOO_MANY and refused.reason == "quota"
    assert refused.detail == "monthly quota used up: 3 videos this month"
    assert refused.retry_after_s == 60
    assert world.store.calls[-1].startswith("delete inputs/")
    assert world.left_nothing()


async def test_an_upload_claimed_meanwhile_refuses_and_deletes_the_copy() -> None:
    world = make_world()
    world.upload()
    world.repo.race_claim = True
    refused = await refusal(world.jobs.create(ME, order()))
    assert refused.kind is Refusal.CONFLICT and refused.reason == "upload_used"
    assert world.left_nothing()


async def test_a_pro_key_has_its_own_quota_and_retention() -> None:
    world = make_world(quotas=Quotas(free_videos_per_month=0, pro_videos_per_month=0))
    pro = Client(ip=ME.ip, tier=Tier.PRO, api_key=ApiKey(uuid4(), "studio", "pro", 5))
    world.upload(owner=pro)
    created = await world.jobs.create(pro, order())
    assert world.repo.jobs[created.job_id].expires_at == NOW + timedelta(hours=24 * 7)
    assert world.jobs.monthly_videos(pro) == 5


# --- jobs from a finished job -------------------------------------------------------------------


async def finished_job(world: World, *, masks: bool = True) -> tuple[UUID, str]:
    world.upload()
    created = await world.jobs.create(ME, order(effect=Effect.FILL))
    job = world.repo.jobs[created.job_id]
    state = JobState(
        status=JobStatus.COMPLETED if masks else JobStatus.PROCESSING,
        stage=Stage.DONE if masks else Stage.TRACKING,
        masks_key=f"masks/{job.id}.masks" if masks else None,
        tracker_backend="learned" if masks else None,
        review=(ReviewRange(start_frame=3, end_frame=9, reason="object lost"),) if masks else None,
    )
    world.repo.jobs[job.id] = replace(job, state=state)
    world.repo.outbox.clear()
    return created.job_id, created.token


async def test_render_again_sends_the_stored_masks_straight_to_the_renderer() -> None:
    world = make_world()
    first, token = await finished_job(world)
    created = await world.jobs.render_again(ME, first, token, ProcessingMode.PRIVACY, None)

    assert [topic for topic, _ in world.repo.outbox] == [MASKS_READY]
    event = world.repo.outbox[0][1]
    assert isinstance(event, MasksReady)
    source = world.repo.jobs[first]
    assert event.job_id == created.job_id and event.masks_key == source.state.masks_key
    assert event.upload_key == source.upload_key  # the first job's input, no new copy
    assert event.effect is Effect.BLUR  # the default, not the first job's fill
    assert event.tracker_backend == "learned" and event.review == list(source.state.review or ())
    new = world.repo.jobs[created.job_id]
    assert new.expires_at == source.expires_at  # the files go together
    assert world.repo.used[(ME.subject, date(2026, 11, 1))] == 2


async def test_render_again_waits_for_the_masks() -> None:
    world = make_world()
    first, token = await finished_job(world, masks=False)
    refused = await refusal(
        world.jobs.render_again(ME, first, token, ProcessingMode.MAGIC_ERASER, None)
    )
    assert refused.kind is Refusal.CONFLICT and refused.retry_after_s == 2
    assert "not ready yet" in refused.detail
    assert world.repo.outbox == [] and len(world.repo.jobs) == 1


async def test_render_again_on_a_cancelled_job_is_a_final_no_not_a_retry() -> None:
    """Issue 18: it answered "not ready yet" with Retry-After: 2 forever."""
    world = make_world()
    world.upload()
    created = await world.jobs.create(ME, order())
    await world.jobs.cancel(created.job_id, created.token)
    world.repo.outbox.clear()
    refused = await refusal(
        world.jobs.render_again(ME, created.job_id, created.token, ProcessingMode.PRIVACY)
    )
    assert refused.kind is Refusal.CONFLICT and refused.retry_after_s is None
    assert refused.detail == (
        "this job has been cancelled before the object's outline was made, so there is "
        "nothing to render again: run it again or start a new job"
    )
    assert world.repo.outbox == []


async def test_rerun_tracks_the_same_video_from_the_new_clicks() -> None:
    world = make_world()
    first, token = await finished_job(world)
    clicks = [ClickPoint(x=100, y=80), ClickPoint(x=300, y=200, frame=40, positive=False)]
    created = await world.jobs.rerun(ME, first, token, clicks, auto_faces=True)

    ((topic, event),) = world.repo.outbox
    assert topic == JOB_CREATED and isinstance(event, JobCreated)
    assert event.job_id == created.job_id and event.points == clicks and event.auto_faces
    assert event.upload_key == world.repo.jobs[first].upload_key
    assert event.effect is Effect.FILL  # the first job's, when none is given


async def test_rerun_refuses_clicks_it_cannot_use() -> None:
    world = make_world()
    first, token = await finished_job(world)
    outside = await refusal(world.jobs.rerun(ME, first, token, [ClickPoint(x=5, y=360)]))
    assert outside.kind is Refusal.INVALID and outside.reason == "bad_click"
    assert outside.detail == "click (5, 360) is outside the 640x360 frame"
    only_not = await refusal(
        world.jobs.rerun(ME, first, token, [ClickPoint(x=5, y=5, positive=False)])
    )
    assert only_not.kind is Refusal.INVALID
    assert only_not.detail == "click on the object at least once (a positive point)"
    assert world.repo.outbox == [] and len(world.repo.jobs) == 1


async def test_an_expired_job_cannot_be_rendered_or_rerun() -> None:
    world = make_world()
    first, token = await finished_job(world)
    job = world.repo.jobs[first]
    world.repo.jobs[first] = replace(job, state=replace(job.state, status=JobStatus.EXPIRED))
    render = await refusal(
        world.jobs.render_again(ME, first, token, ProcessingMode.MAGIC_ERASER, None)
    )
    rerun = await refusal(world.jobs.rerun(ME, first, token, [ClickPoint(x=5, y=5)]))
    assert render.kind is rerun.kind is Refusal.GONE
    assert "expired" in render.detail
    assert world.repo.outbox == []


async def test_a_wrong_token_reads_exactly_like_no_job() -> None:
    world = make_world()
    first, token = await finished_job(world)
    wrong = await refusal(
        world.jobs.render_again(ME, first, "x" + token, ProcessingMode.MAGIC_ERASER)
    )
    nothing = await refusal(world.jobs.cancel(uuid4(), token))
    assert wrong.kind is nothing.kind is Refusal.NOT_FOUND
    assert wrong.detail == nothing.detail
    assert world.repo.outbox == []


# --- cancelling --------------------------------------------------------------------------------


async def test_cancel_leaves_the_marker_first_then_ends_the_job_with_a_progress_event() -> None:
    world = make_world()
    world.upload()
    created = await world.jobs.create(ME, order())
    world.repo.outbox.clear()
    world.store.calls.clear()

    await world.jobs.cancel(created.job_id, created.token)

    assert world.store.calls == [f"marker cancelled/{created.job_id}"]
    job = world.repo.jobs[created.job_id]
    assert job.state.status is JobStatus.CANCELLED and job.state.error == CANCELLED_REASON
    ((_, event),) = world.repo.outbox
    assert isinstance(event, JobProgress)
    assert event.status is JobStatus.CANCELLED and event.message == "Cancelled"
    assert event.stage is Stage.QUEUED and event.job_id == created.job_id


async def test_a_finished_job_cannot_be_cancelled_and_says_how_it_ended() -> None:
    world = make_world()
    first, token = await finished_job(world)
    refused = await refusal(world.jobs.cancel(first, token))
    assert refused.kind is Refusal.CONFLICT
    assert refused.detail == "the job has already completed: download the result"
    assert world.store.calls[-1].startswith("pin")  # no marker for a finished job
    assert world.repo.outbox == []


# --- uploads -----------------------------------------------------------------------------------


async def test_a_presigned_upload_has_the_servers_key_and_is_recorded_for_the_client() -> None:
    world = make_world()
    presigned = await world.uploads.presign(ME, "../../etc/Holiday.MP4", "video/mp4", SIZE)
    assert presigned.key.startswith("uploads/") and presigned.key.endswith(".mp4")
    assert ".." not in presigned.key and "Holiday" not in presigned.key
    assert presigned.post.fields["key"] == presigned.key and presigned.expires_in == 900
    row = world.repo.uploads[presigned.key]
    assert (row.subject, row.size_bytes, row.job_id) == (ME.subject, SIZE, None)
    assert row.expires_at == NOW + timedelta(hours=24)


@pytest.mark.parametrize(
    ("filename", "content_type", "size", "kind", "words"),
    [
        ("notes.txt", "text/plain", SIZE, Refusal.UNSUPPORTED, "file type '.txt' is not supported"),
        ("clip.mp4", "video/webm", SIZE, Refusal.UNSUPPORTED, "does not match .mp4"),
        ("clip.mp4", "video/mp4", 500_000_001, Refusal.TOO_LARGE, "the limit is 500000000"),
        ("clip.mp4", "video/mp4", 0, Refusal.MALFORMED, "the file is empty"),
    ],
)
async def test_an_upload_that_cannot_be_a_video_is_refused_before_anything_is_recorded(
    filename: str, content_type: str, size: int, kind: Refusal, words: str
) -> None:
    world = make_world()
    refused = await refusal(world.uploads.presign(ME, filename, content_type, size))
    assert refused.kind is kind and refused.reason == "bad_upload"
    assert words in refused.detail
    assert world.repo.uploads == {} and world.store.calls == []


async def test_uploads_never_used_for_a_job_are_limited_per_hour() -> None:
    world = make_world(quotas=Quotas(free_unused_uploads_per_hour=2))
    for _ in range(2):
        await world.uploads.presign(ME, "clip.mp4", "video/mp4", SIZE)
    presigns = list(world.store.calls)
    refused = await refusal(world.uploads.presign(ME, "clip.mp4", "video/mp4", SIZE))
    assert refused.kind is Refusal.TOO_MANY and refused.reason == "unused_uploads"
    assert refused.retry_after_s == 600
    assert refused.detail.startswith("2 uploads without a job in the last hour")
    assert len(world.repo.uploads) == 2 and world.store.calls == presigns  # no third URL
    # Another client is not held back by this one.
    await world.uploads.presign(SOMEONE_ELSE, "clip.mp4", "video/mp4", SIZE)


async def test_only_the_client_that_asked_for_an_upload_can_read_it_once_it_has_arrived() -> None:
    world = make_world()
    world.upload("uploads/mine.mp4")
    world.upload("uploads/theirs.mp4", owner=SOMEONE_ELSE)
    world.upload("uploads/sending.mp4", stored=None)
    assert (await world.uploads.owned(ME, "uploads/mine.mp4")).key == "uploads/mine.mp4"
    theirs = await refusal(world.uploads.owned(ME, "uploads/theirs.mp4"))
    assert theirs.kind is Refusal.NOT_FOUND
    assert theirs.detail == "no such upload for this browser: upload the video again"
    sending = await refusal(world.uploads.owned(ME, "uploads/sending.mp4"))
    assert sending.kind is Refusal.CONFLICT and "not finished uploading" in sending.detail


# --- downloads ---------------------------------------------------------------------------------


async def test_a_completed_job_gives_its_result_and_its_original() -> None:
    world = make_world()
    first, token = await finished_job(world)
    job = world.repo.jobs[first]
    world.repo.jobs[first] = replace(
        job, state=replace(job.state, output_key=f"outputs/{first}.mp4")
    )
    result = await world.jobs.result(first, token)
    assert result.url == f"https://store.test/outputs/{first}.mp4?as=tapmask-{first}.mp4&for=3600"
    assert result.expires_in == 3600
    original = await world.jobs.original(first, token)
    assert original.url.startswith(f"https://store.test/{job.upload_key}?as=original-{first}")


async def test_a_result_not_there_says_why_and_when_to_ask_again() -> None:
    world = make_world()
    running, token = await finished_job(world, masks=False)
    early = await refusal(world.jobs.result(running, token))
    assert early.kind is Refusal.CONFLICT and early.retry_after_s == 1
    assert early.detail == (
        "the job is processing (tracking); the video can be downloaded once it is completed"
    )
    job = world.repo.jobs[running]
    world.repo.jobs[running] = replace(job, state=replace(job.state, status=JobStatus.FAILED))
    failed = await refusal(world.jobs.result(running, token))
    assert failed.kind is Refusal.CONFLICT and failed.retry_after_s is None  # never will be
    world.repo.jobs[running] = replace(job, state=replace(job.state, status=JobStatus.EXPIRED))
    gone = await refusal(world.jobs.result(running, token))
    original = await refusal(world.jobs.original(running, token))
    assert gone.kind is original.kind is Refusal.GONE
    assert gone.detail == "the result has expired and was deleted"
