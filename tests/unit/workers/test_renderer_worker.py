"""The renderer's masks-ready handler on FastStream's in-memory broker with a fake store."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import uuid4

from stage_harness import deliver

from tapmask_media.errors import TruncatedFileError
from tapmask_renderer.app import build_service
from tapmask_renderer.rendering import RenderResult
from tapmask_renderer.settings import Settings
from tapmask_runtime.settings import WorkerSettings
from tapmask_runtime.worker import retry_topic
from tapmask_schemas import Effect, MasksReady, ProcessingMode, VideoInfo
from tapmask_schemas.topics import DEAD_LETTER, JOB_FAILED, JOB_PROGRESS, MASKS_READY, VIDEO_READY

FAST = WorkerSettings(backoff_initial_s=0, progress_interval_s=0.05, max_attempts=2)


class FakeRender:
    def __init__(self, fail: list[Exception] | None = None) -> None:
        self.calls: list[tuple[ProcessingMode, Effect]] = []
        self.fail = list(fail or [])

    def __call__(
        self, video: Path, masks: Path, out: Path, mode: Any, effect: Any, progress: Any
    ) -> RenderResult:
        self.calls.append((mode, effect))
        assert (video.read_bytes(), masks.read_bytes()) == (b"video", b"masks")
        if self.fail:
            raise self.fail.pop(0)
        for i in range(1, 6):
            progress(i, 5)
        out.write_bytes(b"rendered-%d" % len(self.calls))
        return RenderResult(frames=5, duration_seconds=0.2)


def masks_ready(store: Any, **kw: Any) -> MasksReady:
    job_id = uuid4()
    event = MasksReady(
        **{
            "job_id": job_id,
            "upload_key": f"uploads/{uuid4()}.mov",
            "masks_key": f"masks/{job_id}.masks",
            "mode": ProcessingMode.PRIVACY,
            "effect": Effect.BLUR,
            "video": VideoInfo(
                width=64, height=48, frame_count=5, duration_seconds=0.2, fps=25, has_audio=False
            ),
            "frames_with_object": 5,
            "tracker_backend": "cpu",
            **kw,
        }
    )
    store.objects[event.upload_key] = (b"video", {})
    store.objects[event.masks_key] = (b"masks", {})
    return event


async def run(svc: Any, *messages: Any) -> None:
    await deliver(svc, MASKS_READY, *messages)


async def rendered(
    store: Any, observe_topics: Any, render: FakeRender, *messages: Any
) -> tuple[Any, dict[str, list[Any]]]:
    """``messages`` through a renderer service that renders with ``render``: the service,
    and what each topic saw."""
    svc = build_service(Settings(worker=FAST), store=store, render=render)
    seen = observe_topics(svc.broker)
    await run(svc, *messages)
    return svc, seen


async def test_render_stores_output_then_announces_completion(
    store: Any, observe_topics: Any, decode: Any
) -> None:
    event = masks_ready(store, effect=Effect.FILL)
    render = FakeRender()
    _, seen = await rendered(store, observe_topics, render, event)

    key = f"outputs/{event.job_id}.mp4"
    assert store.objects[key][0] == b"rendered-1"
    assert render.calls == [(ProcessingMode.PRIVACY, Effect.FILL)]
    [ready] = decode(seen[VIDEO_READY])
    assert ready["output_key"] == key and ready["size_bytes"] == len(b"rendered-1")
    assert ready["duration_seconds"] == 0.2
    progress = decode(seen[JOB_PROGRESS])
    assert progress[-1]["status"] == "completed" and progress[-1]["percent"] == 100
    assert progress[-1]["stage"] == "done"
    stages = [p["stage"] for p in progress]
    assert {"downloading", "rendering", "uploading"} <= set(stages)
    percents = [p["percent"] for p in progress]
    assert percents == sorted(percents) and percents[0] >= 50  # the tracker had 0-50 %
    assert not seen[JOB_FAILED]


async def test_magic_eraser_erases_and_starts_after_the_tracker_share(
    store: Any, observe_topics: Any, decode: Any
) -> None:
    event = masks_ready(store, mode=ProcessingMode.MAGIC_ERASER)
    render = FakeRender()
    _, seen = await rendered(store, observe_topics, render, event)

    assert render.calls == [(ProcessingMode.MAGIC_ERASER, Effect.BLUR)]
    progress = decode(seen[JOB_PROGRESS])
    assert progress[0]["stage"] == "downloading" and progress[0]["percent"] == 30
    rendering = [p for p in progress if p["stage"] == "rendering"]
    assert rendering and all("Erasing" in p["message"] for p in rendering)


async def test_redelivered_job_is_not_rendered_twice(
    store: Any, observe_topics: Any, decode: Any
) -> None:
    event = masks_ready(store)
    first = build_service(Settings(worker=FAST), store=store, render=FakeRender())
    seen_first = observe_topics(first.broker)
    await run(first, event, event)

    render = FakeRender()
    second = build_service(Settings(worker=FAST), store=store, render=render)
    seen_second = observe_topics(second.broker)
    await run(second, event)

    assert render.calls == []
    assert store.uploads[f"outputs/{event.job_id}.mp4"] == 1
    [a] = decode(seen_first[VIDEO_READY])
    [b] = decode(seen_second[VIDEO_READY])
    assert a["event_id"] == b["event_id"] and b["size_bytes"] == a["size_bytes"]


async def test_output_of_another_effect_is_not_reused(
    store: Any, observe_topics: Any, decode: Any
) -> None:
    event = masks_ready(store, effect=Effect.BLUR)
    store.objects[f"outputs/{event.job_id}.mp4"] = (
        b"old",
        {"masks-key": event.masks_key, "mode": "privacy", "effect": "pixelate", "size": "3"},
    )
    render = FakeRender()
    _, seen = await rendered(store, observe_topics, render, event)

    assert len(render.calls) == 1
    [ready] = decode(seen[VIDEO_READY])
    assert ready["size_bytes"] == len(b"rendered-1")


async def test_damaged_video_fails_without_retry(
    store: Any, observe_topics: Any, decode: Any
) -> None:
    event = masks_ready(store)
    render = FakeRender(fail=[TruncatedFileError("video data damaged after frame 3")])
    _, seen = await rendered(store, observe_topics, render, event)

    assert len(render.calls) == 1
    [failed] = decode(seen[JOB_FAILED])
    assert failed["stage"] == "rendering" and "damaged after frame 3" in failed["reason"]
    [dead] = seen[DEAD_LETTER]
    assert MasksReady.model_validate_json(dead.body).job_id == event.job_id
    assert not seen[VIDEO_READY]


async def test_a_retried_render_leaves_one_event_per_stage_on_the_public_topics(
    store: Any, observe_topics: Any, decode: Any
) -> None:
    # Issue 9: each retry used to be re-published on the public masks-ready topic with a
    # new event_id, so outside consumers saw masks-ready three times for one job.
    event = masks_ready(store)
    render = FakeRender(fail=[OSError("disk hiccup")])
    _, seen = await rendered(store, observe_topics, render, event)

    assert len(render.calls) == 2
    [public] = decode(seen[MASKS_READY])
    assert public["event_id"] == str(event.event_id)
    [retry] = decode(seen[retry_topic(MASKS_READY, "renderer")])
    assert (retry["event_id"], retry["attempt"]) == (str(event.event_id), 2)
    assert len(decode(seen[VIDEO_READY])) == 1
    completed = [p for p in decode(seen[JOB_PROGRESS]) if p["status"] == "completed"]
    assert len(completed) == 1
