"""Watching a job while it tracks (issue 19): the tracker stores outline previews as it goes,
and obeys the owner's hold: paused at a frame, tracked again with corrected clicks, held
before rendering until accepted. On FastStream's in-memory broker with a fake store."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from faststream.kafka import TestKafkaBroker

from tapmask_processing.track import TrackResult
from tapmask_runtime.settings import WorkerSettings
from tapmask_schemas import ClickPoint, JobCreated, VideoInfo
from tapmask_schemas.keys import hold_key, previews_key
from tapmask_schemas.topics import JOB_CREATED, JOB_PROGRESS, MASKS_READY
from tapmask_schemas.tracking import MAX_PREVIEWS, TrackHold, TrackPreviews
from tapmask_tracker.app import build_service
from tapmask_tracker.live import PreviewBook, preview_png
from tapmask_tracker.settings import Settings

FAST = WorkerSettings(backoff_initial_s=0, progress_interval_s=0.05, max_attempts=3)
FRAMES = 40


def square(i: int) -> np.ndarray:
    """Frame ``i``'s mask: a 10 px square moving right one pixel a frame."""
    mask = np.zeros((48, 64), bool)
    mask[10:20, i : i + 10] = True
    return mask


class LiveTrack:
    """Fake tracking through the preview hook, a little slow, recording each run's clicks."""

    def __init__(self) -> None:
        self.runs: list[list[ClickPoint]] = []

    def __call__(
        self, video: Path, masks: Path, points: Any, progress: Any, on_mask: Any = None
    ) -> TrackResult:
        self.runs.append(list(points))
        for i in range(FRAMES):
            time.sleep(0.01)
            if on_mask is not None:
                on_mask(i, square(i))
            progress(i + 1, FRAMES)
        masks.write_bytes(b"masks-of-run-%d" % len(self.runs))
        return TrackResult(frames=FRAMES, frames_with_object=FRAMES)


def job(make_job: Any) -> JobCreated:
    video = VideoInfo(
        width=64, height=48, frame_count=FRAMES, duration_seconds=1.6, fps=25, has_audio=False
    )
    made: JobCreated = make_job(video=video)
    return made


async def until(check: Any, what: str, within: float = 20.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def previews(store: Any, event: JobCreated) -> TrackPreviews | None:
    raw = store.small.get(previews_key(event.job_id))
    return TrackPreviews.model_validate_json(raw) if raw else None


def decoded(png: str) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(base64.b64decode(png), np.uint8), cv2.IMREAD_GRAYSCALE)
    return np.asarray(img) > 127


async def test_paused_corrected_resumed_and_held_until_accepted(
    store: Any, observe_topics: Any, make_job: Any, decode: Any
) -> None:
    event = job(make_job)
    store.objects[event.upload_key] = (b"video-bytes", {})
    # The owner asked to check the outline before rendering, and paused at once.
    store.small[hold_key(event.job_id)] = TrackHold(paused=True, at_end=True).model_dump_json()
    track = LiveTrack()
    svc = build_service(Settings(worker=FAST), store=store, track=track)
    seen = observe_topics(svc.broker)
    fix = [ClickPoint(x=10, y=12), ClickPoint(x=30, y=15, frame=25, positive=False)]
    steps: dict[str, Any] = {}

    async def owner() -> None:
        paused = await until(
            lambda: (p := previews(store, event)) and p.paused_at is not None and p, "paused"
        )
        await asyncio.sleep(0.5)  # held: nothing moves while paused
        still = previews(store, event)
        assert still is not None and still.frames_done == paused.frames_done
        steps["paused"] = still
        steps["ready_while_paused"] = len(seen[MASKS_READY])
        # A "not this" on frame 25, and resume: tracked again with both clicks.
        hold = TrackHold(paused=False, at_end=True, points=fix, revision=1)
        store.small[hold_key(event.job_id)] = hold.model_dump_json()
        steps["done"] = await until(
            lambda: (p := previews(store, event)) and p.revision == 1 and p.done and p, "done"
        )
        await asyncio.sleep(0.6)  # held before rendering
        steps["ready_while_held"] = len(seen[MASKS_READY])
        accept = TrackHold(paused=False, at_end=False, points=fix, revision=1)
        store.small[hold_key(event.job_id)] = accept.model_dump_json()

    async with TestKafkaBroker(svc.broker) as br:
        watcher = asyncio.create_task(owner())
        await br.publish(event, JOB_CREATED)
        await svc.worker.wait_idle()
        await until(lambda: watcher.done(), "the owner's steps")
        await watcher

    paused: TrackPreviews = steps["paused"]
    # Paused at the first frame past the hold: previews of the frames tracked so far only.
    assert 1 <= paused.frames_done < FRAMES and paused.paused_at == paused.frames_done
    assert all(p.frame < paused.frames_done for p in paused.previews)
    assert steps["ready_while_paused"] == 0
    # The correction tracked again, from the start, with the corrected clicks.
    assert track.runs == [list(event.points), fix]
    done: TrackPreviews = steps["done"]
    assert steps["ready_while_held"] == 0, "rendering started before the owner accepted"
    # A preview every 5th frame and the last, each the frame's own outline at its place.
    assert [p.frame for p in done.previews] == [*range(0, FRAMES, 5), FRAMES - 1]
    for p in done.previews:
        assert np.array_equal(decoded(p.png), square(p.frame)), p.frame
        assert abs(p.area - square(p.frame).mean()) < 1e-4
    assert done.unsure == []
    # Accepted: masks of the corrected run stored and announced once.
    [ready] = decode(seen[MASKS_READY])
    assert ready["job_id"] == str(event.job_id)
    assert store.objects[f"masks/{event.job_id}.masks"][0] == b"masks-of-run-2"
    said = [p["message"] for p in decode(seen[JOB_PROGRESS])]
    assert any(m.startswith("Paused at frame") for m in said), said
    assert any("accept it to render" in m for m in said), said


async def test_a_hold_is_bounded(
    store: Any, observe_topics: Any, make_job: Any, decode: Any
) -> None:
    """Nobody answers: the tracker goes on by itself once the hold limit has passed."""
    event = job(make_job)
    store.objects[event.upload_key] = (b"video-bytes", {})
    store.small[hold_key(event.job_id)] = TrackHold(paused=True, at_end=True).model_dump_json()
    settings = Settings(worker=FAST)
    settings.tracker.max_hold_s = 1.0
    svc = build_service(settings, store=store, track=LiveTrack())
    seen = observe_topics(svc.broker)
    async with TestKafkaBroker(svc.broker) as br:
        await br.publish(event, JOB_CREATED)
        await svc.worker.wait_idle()
    assert len(decode(seen[MASKS_READY])) == 1


def test_previews_stay_bounded_whatever_the_stream_holds() -> None:
    # A probe that said 10 frames, a stream of 5000: at most MAX_PREVIEWS + 1 kept.
    book = PreviewBook(10, 0)
    mask = np.zeros((48, 64), bool)
    for i in range(5000):
        book.add(i, mask)
    kept = book.snapshot()
    assert kept.frames_done == 5000 and len(kept.previews) == MAX_PREVIEWS + 1
    assert len(kept.model_dump_json()) < 100_000


def test_previews_are_shown_upright_and_small() -> None:
    # A phone video stored sideways (display rotation 90): the preview is the displayed picture.
    mask = np.zeros((1080, 1920), bool)
    mask[:100, :200] = True  # the stored top-left corner
    png, area = preview_png(mask, 1)
    shown = decoded(png)
    assert shown.shape == (128, 72)  # upright, 128 px on the longer side
    assert shown[-3:, :5].all() and not shown[:10].any()  # turned counter-clockwise
    assert abs(area - mask.mean()) < 1e-9
    assert len(base64.b64decode(png)) < 2000
