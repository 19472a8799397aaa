"""masks-ready -> render -> outputs/{job_id}.mp4 in S3 -> video-ready (+ completed progress)."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from tapmask_media.errors import MediaError
from tapmask_media.input_check import InputCheck
from tapmask_renderer.rendering import RenderResult
from tapmask_runtime.object_store import ObjectStore
from tapmask_runtime.service import fetch, recheck_input, run_step
from tapmask_runtime.workdirs import work_dir_prefix
from tapmask_runtime.worker import JobContext, stable_event_id
from tapmask_schemas import (
    Effect,
    JobProgress,
    JobStatus,
    MasksReady,
    ProcessingMode,
    Stage,
    VideoReady,
)
from tapmask_schemas.keys import output_key
from tapmask_schemas.progress import tracker_share_end

log = logging.getLogger("tapmask.renderer")

RenderFn = Callable[
    [Path, Path, Path, ProcessingMode, Effect, Callable[[int, int], None]], RenderResult
]
Publish = Callable[[VideoReady | JobProgress], Awaitable[None]]

_RENDER_END = 97.0


class RenderStage:
    """One masks-ready event: its video stored and video-ready published, once."""

    def __init__(
        self,
        store: ObjectStore,
        render: RenderFn,
        publish: Publish,
        work_dir: Path | None = None,
        check_input: InputCheck | None = None,
    ) -> None:
        self._store = store
        self._render = render
        self._publish = publish
        self._work_dir = work_dir
        self._check_input = check_input

    def _matches(self, meta: dict[str, str] | None, event: MasksReady) -> bool:
        return meta is not None and (
            meta.get("masks-key") == event.masks_key
            and meta.get("mode") == event.mode.value
            and meta.get("effect") == event.effect.value
        )

    async def __call__(self, event: MasksReady, ctx: JobContext) -> None:
        key = output_key(event.job_id)
        existing = await self._store.metadata(key)
        if self._matches(existing, event):
            assert existing is not None
            log.info("output already stored at %s; re-publishing video-ready", key)
            size = int(existing.get("size", 0))
            duration = float(existing.get("duration", event.video.duration_seconds))
        else:
            size, duration = await self._compute(event, ctx, key)
        # Progress of the stage goes out before the final events, never after them.
        await ctx.progress.stop()
        await self._publish(
            VideoReady(
                event_id=stable_event_id(event.job_id, "video-ready"),
                job_id=event.job_id,
                output_key=key,
                size_bytes=size,
                duration_seconds=duration,
            )
        )
        await self._publish(
            JobProgress(
                event_id=stable_event_id(event.job_id, "job-progress/completed"),
                job_id=event.job_id,
                status=JobStatus.COMPLETED,
                stage=Stage.DONE,
                percent=100.0,
                message="Your video is ready",
            )
        )
        log.info("video ready: %s (%d bytes)", key, size)

    async def _compute(self, event: MasksReady, ctx: JobContext, key: str) -> tuple[int, float]:
        # This stage starts where the tracker's share of the job's percent ends.
        start = tracker_share_end(event.mode)
        verb = "Erasing" if event.mode is ProcessingMode.MAGIC_ERASER else "Hiding"
        with tempfile.TemporaryDirectory(
            prefix=work_dir_prefix("render"), dir=self._work_dir
        ) as tmp:
            video = Path(tmp) / ("input" + Path(event.upload_key).suffix)
            masks = Path(tmp) / "masks.tmask"
            output = Path(tmp) / "output.mp4"
            ctx.progress.update(Stage.DOWNLOADING, start, "Fetching the video and its masks")
            gone = "The video or its masks are no longer available (expired or deleted)."
            with ctx.metrics.timed("download"):
                await fetch(self._store, event.upload_key, video, gone)
                await fetch(self._store, event.masks_key, masks, gone)
            await recheck_input(ctx, self._check_input, video, event.video, permanent=(MediaError,))
            begin = start + 2
            ctx.progress.update(Stage.RENDERING, begin, f"{verb} the object")

            def on_frame(done: int, total: int) -> None:
                share = min(done / total, 1.0) if total > 0 else 0.0
                ctx.progress.update(
                    Stage.RENDERING,
                    begin + (_RENDER_END - begin) * share,
                    f"{verb} the object: frame {done} of {total}",
                )

            result: RenderResult = await run_step(
                ctx,
                "rendering",
                self._render,
                *(video, masks, output, event.mode, event.effect, on_frame),
                permanent=(MediaError,),
                failure="The video could not be rendered",
            )
            ctx.progress.update(Stage.UPLOADING, _RENDER_END, "Saving your video")
            size = output.stat().st_size
            with ctx.metrics.timed("upload"):
                await self._store.upload(
                    output,
                    key,
                    {
                        "job-id": str(event.job_id),
                        "masks-key": event.masks_key,
                        "mode": event.mode.value,
                        "effect": event.effect.value,
                        "size": str(size),
                        "duration": f"{result.duration_seconds:.3f}",
                    },
                )
        return size, result.duration_seconds
