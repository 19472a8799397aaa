"""The tracker's backend name and review ranges reach masks-ready, also on a redelivery."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from uuid import uuid4

import av
import numpy as np
from fake_store import FakeStore
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from tapmask_processing.track import TrackResult, track_to_file
from tapmask_processing.tracking.tracking import Frame, Mask, Prompt, ReviewSpan
from tapmask_runtime.settings import WorkerSettings
from tapmask_schemas import ClickPoint, JobCreated, ProcessingMode, ReviewRange, VideoInfo
from tapmask_schemas.topics import JOB_CREATED, MASKS_READY
from tapmask_tracker.app import build_service
from tapmask_tracker.handlers import REVIEW_METADATA_BYTES, compact_review
from tapmask_tracker.settings import Settings

LOST = "object lost; mask held and widened"
FAST = WorkerSettings(backoff_initial_s=0, progress_interval_s=0.05, max_attempts=2)


class UnsureTracker:
    max_side: int | None = None
    name = "learned"

    def __init__(self) -> None:
        self.review: list[ReviewSpan] = []

    def track(self, frames: Iterable[Frame], prompts: Sequence[Prompt]) -> Iterator[Mask]:
        for frame in frames:
            mask = np.zeros(frame.shape[:2], bool)
            mask[4:12, 4:12] = True
            yield mask
        # Filled when the stream ends; out of order and past the end on purpose.
        self.review = [ReviewSpan(9, 99, "low confidence"), ReviewSpan(2, 4, LOST)]


def test_track_to_file_reports_the_trackers_name_and_review(tmp_path: Path) -> None:
    video = tmp_path / "in.mp4"
    with av.open(str(video), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for i in range(12):
            frame = av.VideoFrame.from_ndarray(np.full((24, 32, 3), 20 * i, np.uint8), "rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))

    result = track_to_file(
        video, tmp_path / "m.tmask", UnsureTracker(), [ClickPoint(x=5, y=5)], lambda *_: None
    )

    assert (result.frames, result.frames_with_object, result.backend) == (12, 12, "learned")
    assert result.review == (
        ReviewRange(start_frame=2, end_frame=4, reason=LOST),
        ReviewRange(start_frame=9, end_frame=11, reason="low confidence"),
    )


def test_a_short_review_is_stored_as_it_is() -> None:
    ranges = [ReviewRange(start_frame=75, end_frame=90, reason=LOST)]
    kept, text = compact_review(ranges)
    assert list(kept) == ranges
    assert len(text) < 100 and text.isascii()


def test_a_review_too_long_for_metadata_only_grows_the_frames_to_check() -> None:
    ranges = [
        ReviewRange(start_frame=10 * i, end_frame=10 * i + 2 + i % 3, reason=f"reason {i % 4}")
        for i in range(400)
    ]
    ranges.append(ReviewRange(start_frame=5000, end_frame=5001, reason="ü" + "x" * 500))
    kept, text = compact_review(ranges)
    assert len(text.encode()) <= REVIEW_METADATA_BYTES and text.isascii()
    assert len(kept) < len(ranges)
    covered = {f for r in kept for f in range(r.start_frame, r.end_frame + 1)}
    wanted = {f for r in ranges for f in range(r.start_frame, r.end_frame + 1)}
    assert wanted <= covered  # fail-safe: never fewer frames to check
    assert kept[0].start_frame == 0 and kept[0].reason == "reason 0"
    assert all(len(r.reason) <= 160 for r in kept)


# --- the service: fake S3, in-memory Kafka ------------------------------------------------


class FakeTrack:
    def __init__(self, review: tuple[ReviewRange, ...], backend: str | None = "learned") -> None:
        self.review = review
        self.backend = backend
        self.calls = 0

    def __call__(self, video: Path, masks: Path, points: Any, progress: Any) -> TrackResult:
        self.calls += 1
        progress(10, 10)
        masks.write_bytes(b"masks")
        return TrackResult(10, 9, backend=self.backend, review=self.review)


def _job() -> JobCreated:
    return JobCreated(
        job_id=uuid4(),
        upload_key=f"uploads/{uuid4()}.mp4",
        mode=ProcessingMode.PRIVACY,
        points=[ClickPoint(x=1, y=1)],
        video=VideoInfo(
            width=32, height=24, frame_count=10, duration_seconds=1, fps=10, has_audio=False
        ),
    )


async def _masks_ready(store: FakeStore, track: Any, job: JobCreated) -> list[dict[str, Any]]:
    """Run one tracker process on ``job``; the masks-ready events it published."""
    svc = build_service(Settings(worker=FAST), store=store, track=track)
    seen: dict[str, list[bytes]] = defaultdict(list)
    broker: KafkaBroker = svc.broker

    @broker.subscriber(MASKS_READY, group_id="observer")
    async def record(msg: KafkaMessage) -> None:
        seen[MASKS_READY].append(bytes(msg.body))

    async with TestKafkaBroker(broker) as br:
        await br.publish(job, JOB_CREATED)
        await svc.worker.wait_idle()
    return [json.loads(b) for b in seen[MASKS_READY]]


REVIEW = (
    ReviewRange(start_frame=3, end_frame=5, reason=LOST),
    ReviewRange(start_frame=8, end_frame=8, reason="low confidence"),
)
REVIEW_JSON = [
    {"start_frame": 3, "end_frame": 5, "reason": LOST},
    {"start_frame": 8, "end_frame": 8, "reason": "low confidence"},
]


async def test_masks_ready_carries_the_backend_and_review_and_a_redelivery_repeats_them() -> None:
    store, job = FakeStore(), _job()
    store.objects[job.upload_key] = (b"video", {})

    [first] = await _masks_ready(store, FakeTrack(REVIEW), job)
    assert first["tracker_backend"] == "learned"
    assert first["review"] == REVIEW_JSON
    metadata = store.objects[f"masks/{job.job_id}.masks"][1]
    assert metadata["tracker-backend"] == "learned"
    assert sum(len(k) + len(v) for k, v in metadata.items()) < 2048  # S3's metadata limit

    # Another worker process gets the message again: nothing recomputed, the same news.
    again = FakeTrack((), backend="cpu")
    [second] = await _masks_ready(store, again, job)
    assert again.calls == 0
    assert second.pop("occurred_at") and first.pop("occurred_at")
    assert second == first  # the same event id too: consumers drop the repeat


async def test_an_unreadable_stored_review_is_tracked_again_not_announced_as_empty() -> None:
    store, job = FakeStore(), _job()
    store.objects[job.upload_key] = (b"video", {})
    await _masks_ready(store, FakeTrack(REVIEW), job)
    key = f"masks/{job.job_id}.masks"
    data, metadata = store.objects[key]
    store.objects[key] = (data, {**metadata, "review": "{not json"})

    track = FakeTrack(REVIEW)
    [ready] = await _masks_ready(store, track, job)
    assert track.calls == 1
    assert ready["review"] == REVIEW_JSON


async def test_masks_stored_before_reviews_existed_are_announced_with_none() -> None:
    store, job = FakeStore(), _job()
    old = {
        "job-id": str(job.job_id),
        "upload-key": job.upload_key,
        "frames": "10",
        "frames-with-object": "9",
        "tracker-backend": "sam2",
    }
    store.objects[f"masks/{job.job_id}.masks"] = (b"masks", old)
    track = FakeTrack(REVIEW)
    [ready] = await _masks_ready(store, track, job)
    assert track.calls == 0
    assert (ready["tracker_backend"], ready["review"]) == ("sam2", [])


async def test_a_tracker_without_a_name_falls_back_to_the_configured_backend() -> None:
    store, job = FakeStore(), _job()
    store.objects[job.upload_key] = (b"video", {})
    [ready] = await _masks_ready(store, FakeTrack((), backend=None), job)
    assert (ready["tracker_backend"], ready["review"]) == ("cpu", [])
