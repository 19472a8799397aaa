"""The tracker's job-created handler on FastStream's in-memory broker with a fake store."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from faststream.kafka import TestKafkaBroker
from stage_harness import deliver

from tapmask_processing.track import TrackResult
from tapmask_processing.tracking import TrackingError
from tapmask_runtime.settings import WorkerSettings
from tapmask_runtime.worker import retry_topic
from tapmask_schemas import JobCreated, ProcessingMode
from tapmask_schemas.topics import DEAD_LETTER, JOB_CREATED, JOB_FAILED, JOB_PROGRESS, MASKS_READY
from tapmask_tracker.app import build_service
from tapmask_tracker.settings import Settings

RETRY = retry_topic(JOB_CREATED, "tracker")
FAST = WorkerSettings(backoff_initial_s=0, progress_interval_s=0.05, max_attempts=3)


class FakeTrack:
    """Writes fake masks, reports progress per frame; can fail or be slow."""

    def __init__(
        self,
        fail: list[Exception] | None = None,
        frames: int = 10,
        delay: float = 0,
        seen: int | None = None,
    ):
        self.seen = seen
        self.calls = 0
        self.fail = list(fail or [])
        self.frames = frames
        self.delay = delay
        self.reported = 0  # frames of the latest call reported as done

    def __call__(self, video: Path, masks: Path, points: Any, progress: Any) -> TrackResult:
        self.calls += 1
        assert video.read_bytes() == b"video-bytes"
        if self.fail:
            raise self.fail.pop(0)
        for i in range(1, self.frames + 1):
            time.sleep(self.delay)
            progress(i, self.frames)
            self.reported = i
        masks.write_bytes(b"mask-bytes-%d" % self.calls)
        seen = self.frames - 1 if self.seen is None else self.seen
        return TrackResult(frames=self.frames, frames_with_object=seen)


def service(store: Any, track: Any, worker: WorkerSettings = FAST) -> Any:
    return build_service(Settings(worker=worker), store=store, track=track)


async def run_jobs(svc: Any, *messages: Any) -> None:
    await deliver(svc, JOB_CREATED, *messages)


async def tracked(
    store: Any, observe_topics: Any, track: Any, *messages: Any, worker: WorkerSettings = FAST
) -> tuple[Any, dict[str, list[Any]]]:
    """``messages`` through a tracker service that tracks with ``track``: the service, and
    what each topic saw."""
    svc = service(store, track, worker)
    seen = observe_topics(svc.broker)
    await run_jobs(svc, *messages)
    return svc, seen


async def test_job_stores_masks_and_announces_them(
    store: Any, observe_topics: Any, make_job: Any, decode: Any
) -> None:
    job: JobCreated = make_job()
    store.objects[job.upload_key] = (b"video-bytes", {})
    track = FakeTrack()
    svc, seen = await tracked(store, observe_topics, track, job)

    key = f"masks/{job.job_id}.masks"
    assert store.objects[key][0] == b"mask-bytes-1"
    [ready] = decode(seen[MASKS_READY])
    assert ready["job_id"] == str(job.job_id)
    assert ready["masks_key"] == key
    assert ready["upload_key"] == job.upload_key
    assert (ready["mode"], ready["effect"]) == ("privacy", "pixelate")
    assert ready["frames_with_object"] == 9
    progress = decode(seen[JOB_PROGRESS])
    stages = [p["stage"] for p in progress]
    assert stages[0] == "downloading" and "tracking" in stages and "uploading" in stages
    percents = [p["percent"] for p in progress]
    assert percents == sorted(percents) and percents[-1] <= 50
    assert all(p["status"] == "processing" for p in progress)
    assert not seen[JOB_FAILED] and not seen[DEAD_LETTER]
    assert svc.metrics.value("completed") == 1 and svc.metrics.value("committed") == 1


async def test_duplicate_message_gives_one_output_and_one_event(
    store: Any, observe_topics: Any, make_job: Any, decode: Any
) -> None:
    job = make_job()
    store.objects[job.upload_key] = (b"video-bytes", {})
    track = FakeTrack()
    svc, seen = await tracked(store, observe_topics, track, job, job)

    assert track.calls == 1
    assert store.uploads[f"masks/{job.job_id}.masks"] == 1
    assert len(decode(seen[MASKS_READY])) == 1
    assert svc.metrics.value("duplicate") == 1


async def test_redelivery_after_crash_reuses_stored_masks(
    store: Any, observe_topics: Any, make_job: Any, decode: Any
) -> None:
    job = make_job()
    store.objects[job.upload_key] = (b"video-bytes", {})
    first = service(store, FakeTrack())
    seen_first = observe_topics(first.broker)
    await run_jobs(first, job)

    # A new worker process (nothing in memory) gets the same message again.
    track = FakeTrack()
    second = service(store, track)
    seen_second = observe_topics(second.broker)
    await run_jobs(second, job)

    assert track.calls == 0
    assert store.uploads[f"masks/{job.job_id}.masks"] == 1
    [a] = decode(seen_first[MASKS_READY])
    [b] = decode(seen_second[MASKS_READY])
    assert a["event_id"] == b["event_id"]  # consumers drop the repeat
    assert b["frames_with_object"] == 9


async def test_failing_job_is_retried_then_dead_lettered_and_failed(
    store: Any, observe_topics: Any, make_job: Any, decode: Any
) -> None:
    job = make_job()
    store.objects[job.upload_key] = (b"video-bytes", {})
    track = FakeTrack(fail=[RuntimeError("gpu fell over")] * 5)
    svc, seen = await tracked(store, observe_topics, track, job)

    assert track.calls == 3
    # The retries went through Kafka with a counter, on the tracker's own topic, as the
    # same event (same event_id): the public topic holds the one original.
    [original] = decode(seen[JOB_CREATED])
    retries = decode(seen[RETRY])
    assert [original["attempt"], *(e["attempt"] for e in retries)] == [1, 2, 3]
    assert {e["event_id"] for e in retries} == {original["event_id"]}
    [dead] = seen[DEAD_LETTER]
    assert JobCreated.model_validate_json(dead.body).attempt == 3
    assert "gpu fell over" in dead.headers["x-reason"]
    assert dead.headers["x-original-topic"] == JOB_CREATED
    [failed] = decode(seen[JOB_FAILED])
    assert failed["job_id"] == str(job.job_id)
    assert failed["retryable"] is False and "3 attempts" in failed["reason"]
    assert not seen[MASKS_READY]
    assert svc.metrics.value("retried") == 2 and svc.metrics.value("failed") == 1


async def test_retry_that_succeeds_completes_the_job(
    store: Any, observe_topics: Any, make_job: Any, decode: Any
) -> None:
    job = make_job()
    store.objects[job.upload_key] = (b"video-bytes", {})
    track = FakeTrack(fail=[OSError("disk hiccup")])
    _, seen = await tracked(store, observe_topics, track, job)

    assert track.calls == 2
    # An outside consumer of the public topics sees one job-created and one masks-ready.
    assert len(decode(seen[JOB_CREATED])) == 1 and len(decode(seen[RETRY])) == 1
    assert len(decode(seen[MASKS_READY])) == 1
    assert not seen[JOB_FAILED] and not seen[DEAD_LETTER]


async def test_bad_click_fails_at_once_with_a_reason(
    store: Any, observe_topics: Any, make_job: Any, decode: Any
) -> None:
    job = make_job()
    store.objects[job.upload_key] = (b"video-bytes", {})
    track = FakeTrack(fail=[TrackingError("click (900, 10) is outside the 64x48 frame")])
    _, seen = await tracked(store, observe_topics, track, job)

    assert track.calls == 1
    [failed] = decode(seen[JOB_FAILED])
    assert "outside the 64x48 frame" in failed["reason"]
    assert failed["stage"] == "tracking"
    assert len(seen[DEAD_LETTER]) == 1


async def test_object_found_nowhere_fails_instead_of_hiding_nothing(
    store: Any, observe_topics: Any, make_job: Any, decode: Any
) -> None:
    job = make_job()
    store.objects[job.upload_key] = (b"video-bytes", {})
    _, seen = await tracked(store, observe_topics, FakeTrack(seen=0), job)

    [failed] = decode(seen[JOB_FAILED])
    assert "could not be found" in failed["reason"]
    assert not seen[MASKS_READY] and f"masks/{job.job_id}.masks" not in store.objects


async def test_missing_upload_fails_with_a_reason(
    store: Any, observe_topics: Any, make_job: Any, decode: Any
) -> None:
    job = make_job()
    _, seen = await tracked(store, observe_topics, FakeTrack(), job)

    [failed] = decode(seen[JOB_FAILED])
    assert "no longer available" in failed["reason"]


async def test_poison_messages_are_dead_lettered_and_the_next_job_flows(
    store: Any, observe_topics: Any, make_job: Any, decode: Any
) -> None:
    job = make_job()
    store.objects[job.upload_key] = (b"video-bytes", {})
    svc = service(store, FakeTrack())
    seen = observe_topics(svc.broker)
    readable_id = make_job().job_id
    bad_event = json.dumps(
        {"job_id": str(readable_id), "event_type": "job-created", "mode": "paint"}
    )

    await run_jobs(svc, b"\x00not json at all", bad_event.encode(), job)

    dead = seen[DEAD_LETTER]
    assert [d.body for d in dead] == [b"\x00not json at all", bad_event.encode()]
    assert all("not a valid JobCreated" in d.headers["x-reason"] for d in dead)
    # The one with a readable job id is failed for the user; the other has no job.
    [failed] = decode(seen[JOB_FAILED])
    assert failed["job_id"] == str(readable_id)
    [ready] = decode(seen[MASKS_READY])
    assert ready["job_id"] == str(job.job_id)


async def test_progress_is_throttled_but_regular(
    store: Any, observe_topics: Any, make_job: Any, decode: Any
) -> None:
    job = make_job(mode=ProcessingMode.MAGIC_ERASER)
    store.objects[job.upload_key] = (b"video-bytes", {})
    # 2000 callbacks in a burst, then a slow tail with no callbacks for 0.5 s.
    svc = service(
        store,
        FakeTrack(frames=2000),
        WorkerSettings(backoff_initial_s=0, progress_interval_s=0.1, progress_step_percent=5),
    )
    seen = observe_topics(svc.broker)

    await run_jobs(svc, job)

    tracking = [p for p in decode(seen[JOB_PROGRESS]) if p["stage"] == "tracking"]
    assert 2 <= len(tracking) < 60  # far fewer events than callbacks
    assert max(p["percent"] for p in tracking) >= 28  # magic_eraser: tracking ends at 28 %


async def test_quiet_pipeline_still_reports_every_interval(
    store: Any, observe_topics: Any, make_job: Any, decode: Any
) -> None:
    job = make_job()
    store.objects[job.upload_key] = (b"video-bytes", {})
    svc = service(
        store,
        FakeTrack(frames=2, delay=0.6),
        WorkerSettings(backoff_initial_s=0, progress_interval_s=0.1),
    )
    seen = observe_topics(svc.broker)

    await run_jobs(svc, job)

    # ~1.2 s with only two callbacks: the 0.1 s interval keeps events coming.
    progress = decode(seen[JOB_PROGRESS])
    assert len(progress) >= 8
    # Halfway after 0.6 s: about 0.6 s left of the tracker's share. The bounds are loose
    # on purpose: a busy CI machine stretches every sleep, not the estimate's order.
    etas = [p["eta_seconds"] for p in progress if p["stage"] == "tracking" and p["eta_seconds"]]
    assert etas and all(0.05 < eta < 6.0 for eta in etas), etas


async def test_shutdown_abandons_a_long_job_uncommitted(
    store: Any, observe_topics: Any, make_job: Any, decode: Any
) -> None:
    job = make_job()
    store.objects[job.upload_key] = (b"video-bytes", {})
    track = FakeTrack(frames=400, delay=0.02)
    svc = service(store, track, WorkerSettings(backoff_initial_s=0, shutdown_grace_s=0.2))
    seen = observe_topics(svc.broker)
    started = threading.Event()
    original = track.__call__

    def tracking(*args: Any) -> TrackResult:
        started.set()
        return original(*args)

    svc.stage.use(tracking, "cpu")
    async with TestKafkaBroker(svc.broker) as br:
        await br.publish(job, JOB_CREATED)
        await svc.worker.shutdown()
    assert started.is_set()
    # Grace (0.2 s), then the pipeline stops at its next progress callback: ~10-20 of
    # 400 frames (8 s) done; counted in frames, so a loaded machine cannot fail it.
    assert track.reported < track.frames // 2
    assert not seen[MASKS_READY] and not seen[JOB_FAILED]
    assert svc.metrics.value("abandoned") == 1 and svc.metrics.value("committed") == 0
    assert not store.small  # a clean abandon is not counted as a crash


class WorkerKilled(BaseException):
    """Stands for the process dying mid-job (OOM kill, codec segfault): not an
    ``Exception``, so the harness settles nothing and commits nothing."""


class KillingTrack(FakeTrack):
    def __call__(self, video: Path, masks: Path, points: Any, progress: Any) -> TrackResult:
        self.calls += 1
        progress(1, self.frames)
        raise WorkerKilled


def _bury(svc: Any) -> None:
    """Collect the simulated death from the dead "process"'s job task, as the OS would:
    left unretrieved, asyncio reports it on stderr when the test loop closes."""
    task = svc.worker._task
    assert task is not None and task.done()
    assert isinstance(task.exception(), WorkerKilled)


async def test_a_message_that_kills_the_worker_every_time_ends_in_dead_letter(
    store: Any, observe_topics: Any, make_job: Any, decode: Any
) -> None:
    job = make_job()
    store.objects[job.upload_key] = (b"video-bytes", {})
    record = f"attempts/tracker/{job.job_id}"

    # Each "process" gets the uncommitted message again (attempt stays 1) and dies.
    for life in range(1, 4):
        killing = KillingTrack()
        svc = service(store, killing)
        async with TestKafkaBroker(svc.broker) as br:
            await br.publish(job, JOB_CREATED)
            await svc.worker.wait_idle()
        _bury(svc)
        assert killing.calls == 1
        assert json.loads(store.small[record]) == {"starts": life}  # written before the work

    # The next process does not run it a 4th time: dead letter + job failed.
    track = FakeTrack()
    svc = service(store, track)
    seen = observe_topics(svc.broker)
    nxt = make_job()
    store.objects[nxt.upload_key] = (b"video-bytes", {})
    await run_jobs(svc, job, nxt)

    assert track.calls == 1  # only the next job
    [dead] = seen[DEAD_LETTER]
    assert JobCreated.model_validate_json(dead.body).job_id == job.job_id
    assert dead.headers["x-attempts"] == "3" and "crashed 3 times" in dead.headers["x-reason"]
    [failed] = decode(seen[JOB_FAILED])
    assert failed["job_id"] == str(job.job_id) and failed["retryable"] is False
    assert failed["reason"].startswith("The worker crashed 3 times on this job")
    [ready] = decode(seen[MASKS_READY])
    assert ready["job_id"] == str(nxt.job_id)
    assert svc.metrics.value("crash_looped") == 1
    assert not store.small  # both settled: no records left behind


async def test_crashes_and_handled_failures_share_one_limit(
    store: Any, observe_topics: Any, make_job: Any, decode: Any
) -> None:
    job = make_job()
    store.objects[job.upload_key] = (b"video-bytes", {})
    killing = KillingTrack()
    svc = service(store, killing)
    async with TestKafkaBroker(svc.broker) as br:
        await br.publish(job, JOB_CREATED)
        await svc.worker.wait_idle()
    _bury(svc)

    # Restarted: one crash is on record; two handled failures use up the other tries.
    track = FakeTrack(fail=[RuntimeError("gpu fell over")] * 5)
    svc, seen = await tracked(store, observe_topics, track, job)

    assert track.calls == 2  # the 3rd try is the crash's: attempt 3 is given up unrun
    attempts = [e["attempt"] for e in decode(seen[JOB_CREATED]) + decode(seen[RETRY])]
    assert attempts == [1, 2, 3]
    [failed] = decode(seen[JOB_FAILED])
    assert "crashed 1 time on this job" in failed["reason"]
    assert len(seen[DEAD_LETTER]) == 1


async def test_redelivery_after_success_is_not_taken_for_a_crash(
    store: Any, observe_topics: Any, make_job: Any, decode: Any
) -> None:
    job = make_job()
    store.objects[job.upload_key] = (b"video-bytes", {})
    once = WorkerSettings(backoff_initial_s=0, progress_interval_s=0.05, max_attempts=1)
    await run_jobs(service(store, FakeTrack(), once), job)

    # Done, but the commit was lost: the next process gets it again and re-announces.
    _, seen = await tracked(store, observe_topics, FakeTrack(), job, worker=once)

    assert len(decode(seen[MASKS_READY])) == 1
    assert not seen[JOB_FAILED] and not seen[DEAD_LETTER]


async def test_topic_prefix_applies_to_every_topic_of_the_worker(
    store: Any, make_job: Any, decode: Any
) -> None:
    from faststream.kafka.annotations import KafkaMessage

    from tapmask_runtime.settings import KafkaSettings

    job = make_job()
    store.objects[job.upload_key] = (b"video-bytes", {})
    settings = Settings(worker=FAST, kafka=KafkaSettings(topic_prefix="staging."))
    svc = build_service(settings, store=store, track=FakeTrack())
    seen: dict[str, list[bytes]] = {}
    for topic in (MASKS_READY, JOB_PROGRESS, DEAD_LETTER, JOB_FAILED):

        def make(name: str) -> None:
            @svc.broker.subscriber(name, group_id=f"observer-{name}")
            async def record(msg: KafkaMessage) -> None:
                seen.setdefault(name, []).append(bytes(msg.body))

        make("staging." + topic)
    async with TestKafkaBroker(svc.broker) as br:
        await br.publish(job, "staging." + JOB_CREATED)
        await br.publish(b"not json", "staging." + JOB_CREATED)
        await svc.worker.wait_idle()

    assert len(seen["staging." + MASKS_READY]) == 1
    assert seen["staging." + JOB_PROGRESS]
    assert seen["staging." + DEAD_LETTER] == [b"not json"]


class StuckTrack:
    """Never reports progress: stuck inside a decoder, say."""

    calls = 0

    def __call__(self, video: Path, masks: Path, points: Any, progress: Any) -> TrackResult:
        self.calls += 1
        time.sleep(2.5)
        return TrackResult(frames=1, frames_with_object=1)


async def test_a_stage_past_its_time_budget_fails_for_good_with_the_reason(
    store: Any, observe_topics: Any, make_job: Any, decode: Any
) -> None:
    # Issue 9: no per-stage ceiling. The budget grows with the video's length (0.4 s here).
    budget = WorkerSettings(stage_timeout_base_s=1.0, stage_timeout_per_video_s=0.0)
    for track in (FakeTrack(frames=40, delay=0.1), StuckTrack()):
        job = make_job()
        store.objects[job.upload_key] = (b"video-bytes", {})
        svc = service(store, track, FAST.model_copy(update=budget.model_dump(exclude_unset=True)))
        seen = observe_topics(svc.broker)
        await run_jobs(svc, job)

        if isinstance(track, FakeTrack):  # stopped at the budget (~10 of 40 frames)
            assert track.reported < track.frames
        assert track.calls == 1  # not retried: it would take as long again
        [failed] = decode(seen[JOB_FAILED])
        assert "took longer than 1 s, the most a 0 s video may take" in failed["reason"]
        assert len(seen[DEAD_LETTER]) == 1 and not seen[MASKS_READY]


def test_the_budget_grows_with_the_video() -> None:
    settings = WorkerSettings()
    # A 600 s video (the gateway's longest) gets 6300 s: 2.2x the learned tracker's pace.
    assert settings.stage_budget_s(600) == 300 + 10 * 600
    assert settings.stage_budget_s(600) > 600 / 0.22


async def test_auto_faces_reaches_the_tracking_step_and_old_events_mean_no_faces(
    store: Any, observe_topics: Any, make_job: Any, decode: Any
) -> None:
    asked: list[bool] = []

    def track(video: Path, masks: Path, points: Any, progress: Any, **kw: Any) -> TrackResult:
        asked.append(kw.get("auto_faces", False))
        masks.write_bytes(b"masks")
        return TrackResult(frames=10, frames_with_object=10, backend="cpu+faces")

    faces, plain = make_job(auto_faces=True), make_job()
    old = json.loads(plain.model_dump_json())
    old.pop("auto_faces")  # as a gateway from before the field published it
    for job in (faces, plain):
        store.objects[job.upload_key] = (b"video-bytes", {})
    _, seen = await tracked(store, observe_topics, track, faces, old)

    assert asked == [True, False]
    assert [r["tracker_backend"] for r in decode(seen[MASKS_READY])] == ["cpu+faces"] * 2
