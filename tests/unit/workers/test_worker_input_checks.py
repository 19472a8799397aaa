"""Each worker probes its own copy of the upload with the gateway's limits before decoding
(issue 9): a swapped upload, a file over the limits, or frames that change size mid-stream
fail the job at once, with a reason a person understands and no temp path in it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from uuid import uuid4

import av
import numpy as np
from stage_harness import deliver

from tapmask_media.input_check import input_check
from tapmask_processing.track import TrackResult, track_to_file
from tapmask_processing.tracking import build_tracker
from tapmask_renderer.app import build_service as build_renderer
from tapmask_renderer.settings import Settings as RendererSettings
from tapmask_runtime.settings import VideoLimits, WorkerSettings
from tapmask_schemas import ClickPoint, Effect, JobCreated, MasksReady, ProcessingMode, VideoInfo
from tapmask_schemas.topics import DEAD_LETTER, JOB_CREATED, JOB_FAILED, MASKS_READY, VIDEO_READY
from tapmask_tracker.app import build_service as build_tracker_service
from tapmask_tracker.settings import Settings as TrackerSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "media"))
from test_media_hostile_frames import growing_avi

FAST = WorkerSettings(backoff_initial_s=0, progress_interval_s=0.05, max_attempts=3)


def clip_bytes(tmp: Path, frames: int, fps: int = 10, size: tuple[int, int] = (64, 48)) -> bytes:
    path = tmp / f"clip-{frames}.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        for i in range(frames):
            img = np.full((size[1], size[0], 3), 30, np.uint8)
            img[10:20, i % 40 : i % 40 + 10] = 220
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path.read_bytes()


class NeverCalled:
    calls = 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        raise AssertionError("the input should have been refused before this step")


def job(frames: int, upload_key: str | None = None) -> JobCreated:
    return JobCreated(
        job_id=uuid4(),
        upload_key=upload_key or f"uploads/{uuid4()}.mp4",
        mode=ProcessingMode.PRIVACY,
        effect=Effect.BLUR,
        points=[ClickPoint(x=10, y=12)],
        video=VideoInfo(
            width=64,
            height=48,
            frame_count=frames,
            duration_seconds=frames / 10,
            fps=10,
            has_audio=False,
        ),
    )


async def tracked(store: Any, observe: Any, event: JobCreated, **kw: Any) -> dict[str, Any]:
    svc = build_tracker_service(TrackerSettings(worker=FAST), store=store, **kw)
    seen = observe(svc.broker)
    await deliver(svc, JOB_CREATED, event)
    return seen


async def test_a_swapped_upload_is_refused_before_tracking(
    tmp_path: Path, store: Any, observe_topics: Any, decode: Any
) -> None:
    # The gateway probed 20 frames; the object now holds 40 (re-posted to the same key).
    event = job(frames=20)
    store.objects[event.upload_key] = (clip_bytes(tmp_path, 40), {})
    track = NeverCalled()
    seen = await tracked(
        store, observe_topics, event, track=track, check_input=input_check(VideoLimits())
    )
    assert track.calls == 0
    [failed] = decode(seen[JOB_FAILED])
    assert failed["stage"] == "tracking"
    assert "not the one checked at upload" in failed["reason"]
    assert "40 frames instead of 64x48, 20 frames" in failed["reason"]
    assert "/tmp" not in failed["reason"] and "tapmask-track-" not in failed["reason"]
    assert len(seen[DEAD_LETTER]) == 1 and not seen[MASKS_READY]


async def test_the_gateway_limits_apply_in_the_tracker(
    tmp_path: Path, store: Any, observe_topics: Any, decode: Any
) -> None:
    event = job(frames=40)  # 4 s, as announced, but the limit is now 2 s
    store.objects[event.upload_key] = (clip_bytes(tmp_path, 40), {})
    track = NeverCalled()
    check = input_check(VideoLimits(max_duration_s=2.0))
    seen = await tracked(store, observe_topics, event, track=track, check_input=check)
    assert track.calls == 0
    [failed] = decode(seen[JOB_FAILED])
    assert "more than the 2 s allowed" in failed["reason"]


async def test_frames_that_grow_mid_stream_fail_the_job_with_the_reason(
    tmp_path: Path, store: Any, observe_topics: Any, decode: Any
) -> None:
    avi = growing_avi(tmp_path / "grows.avi", (1280, 960))
    event = job(frames=8, upload_key=f"uploads/{uuid4()}.avi").model_copy(
        update={
            "video": VideoInfo(
                width=640,
                height=480,
                frame_count=8,
                duration_seconds=0.8,
                fps=10,
                has_audio=False,
            ),
            "points": [ClickPoint(x=320, y=240)],
        }
    )
    store.objects[event.upload_key] = (avi.read_bytes(), {})
    tracker = build_tracker("cpu")

    def track(video: Path, masks: Path, points: Any, progress: Any) -> TrackResult:
        return track_to_file(video, masks, tracker, points, progress)

    seen = await tracked(
        store, observe_topics, event, track=track, check_input=input_check(VideoLimits())
    )
    [failed] = decode(seen[JOB_FAILED])
    reason = failed["reason"]
    assert reason.startswith("The video could not be tracked: frame 5 is 1280x960")
    assert "changes size mid-stream" in reason
    assert "/tmp" not in reason and "input.avi:" not in reason
    assert len(seen[DEAD_LETTER]) == 1  # one attempt: permanent, not retried


async def test_a_swapped_upload_is_refused_before_rendering(
    tmp_path: Path, store: Any, observe_topics: Any, decode: Any
) -> None:
    job_id = uuid4()
    event = MasksReady(
        job_id=job_id,
        upload_key=f"uploads/{uuid4()}.mp4",
        masks_key=f"masks/{job_id}.masks",
        mode=ProcessingMode.PRIVACY,
        effect=Effect.BLUR,
        video=VideoInfo(
            width=64, height=48, frame_count=20, duration_seconds=2, fps=10, has_audio=False
        ),
        frames_with_object=20,
        tracker_backend="cpu",
    )
    store.objects[event.upload_key] = (clip_bytes(tmp_path, 30, size=(80, 48)), {})
    store.objects[event.masks_key] = (b"masks", {})
    render = NeverCalled()
    svc = build_renderer(
        RendererSettings(worker=FAST),
        store=store,
        render=render,
        check_input=input_check(VideoLimits()),
    )
    seen = observe_topics(svc.broker)
    await deliver(svc, MASKS_READY, event)
    assert render.calls == 0
    [failed] = decode(seen[JOB_FAILED])
    assert failed["stage"] == "rendering"
    assert "not the one checked at upload (80x48, 30 frames" in failed["reason"]
    assert not seen[VIDEO_READY]


def test_the_real_services_check_their_input() -> None:
    # Without fakes, both workers are wired with the check (and the configured limits).
    limits = VideoLimits(max_duration_s=5.0)
    tracker = build_tracker_service(TrackerSettings(limits=limits))
    renderer = build_renderer(RendererSettings(limits=limits))
    for stage in (tracker.stage, renderer.stage):
        check = stage._check_input
        assert check is not None and check.keywords["limits"].max_duration_s == 5.0
