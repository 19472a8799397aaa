"""job-created -> track -> masks/{job_id}.masks in S3 -> masks-ready."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from tapmask_media.errors import MediaError
from tapmask_runtime.service import fetch, run_step
from tapmask_runtime.worker import JobContext, ObjectStore, PermanentJobError, stable_event_id
from tapmask_schemas import ClickPoint, JobCreated, MasksReady, ProcessingMode, Stage
from tapmask_tracker.core import TrackingError
from tapmask_tracker.masking import TrackResult

log = logging.getLogger("tapmask.tracker")

TrackFn = Callable[[Path, Path, Sequence[ClickPoint], Callable[[int, int], None]], TrackResult]
PublishMasksReady = Callable[[MasksReady], Awaitable[None]]

# Share of the whole job's percent each step of this stage ends at: erasing makes
# rendering the long half, hiding makes tracking about as long as rendering.
_TRACK_END = {ProcessingMode.PRIVACY: 48.0, ProcessingMode.MAGIC_ERASER: 28.0}
_DOWNLOAD_END = 2.0


def tracker_share_end(event: JobCreated) -> float:
    """The job percent at which the tracker's part is done."""
    return _TRACK_END[event.mode] + 2


def masks_key_for(job_id: object) -> str:
    return f"masks/{job_id}.masks"


class TrackStage:
    """One job-created event: its masks stored and masks-ready published, once."""

    def __init__(
        self,
        store: ObjectStore,
        track: TrackFn,
        publish: PublishMasksReady,
        backend_name: str,
        work_dir: Path | None = None,
    ) -> None:
        self._store = store
        self._track = track
        self._publish = publish
        self._backend = backend_name
        self._work_dir = work_dir

    def use(self, track: TrackFn, backend_name: str) -> None:
        """Swap in the tracking function once the model is loaded."""
        self._track = track
        self._backend = backend_name

    async def __call__(self, event: JobCreated, ctx: JobContext) -> None:
        key = masks_key_for(event.job_id)
        track_end = _TRACK_END[event.mode]
        existing = await self._store.metadata(key)
        if existing is not None and existing.get("upload-key") == event.upload_key:
            # A redelivery after the masks were stored: re-announce, don't recompute.
            log.info("masks already stored at %s; re-publishing masks-ready", key)
            result = TrackResult(
                frames=int(existing.get("frames", 0)),
                frames_with_object=int(existing.get("frames-with-object", 0)),
            )
            backend = existing.get("tracker-backend", self._backend)
        else:
            result = await self._compute(event, ctx, key, track_end)
            backend = self._backend
        ctx.progress.update(Stage.UPLOADING, track_end + 2, "The object's outline is saved")
        await ctx.progress.stop()  # this stage's progress goes out before masks-ready
        await self._publish(
            MasksReady(
                event_id=stable_event_id(event.job_id, "masks-ready"),
                job_id=event.job_id,
                upload_key=event.upload_key,
                masks_key=key,
                mode=event.mode,
                effect=event.effect,
                video=event.video,
                frames_with_object=result.frames_with_object,
                tracker_backend=backend,
            )
        )
        log.info(
            "masks ready: %d frames, object seen in %d", result.frames, result.frames_with_object
        )

    async def _compute(
        self, event: JobCreated, ctx: JobContext, key: str, track_end: float
    ) -> TrackResult:
        with tempfile.TemporaryDirectory(prefix="tapmask-track-", dir=self._work_dir) as tmp:
            video = Path(tmp) / ("input" + Path(event.upload_key).suffix)
            masks = Path(tmp) / "masks.tmask"
            ctx.progress.update(Stage.DOWNLOADING, 0, "Fetching your video")
            with ctx.metrics.timed("download"):
                await fetch(
                    self._store,
                    event.upload_key,
                    video,
                    "The uploaded video is no longer available (expired or deleted).",
                )
            ctx.progress.update(Stage.TRACKING, _DOWNLOAD_END, "Following the object")

            def on_frame(done: int, total: int) -> None:
                share = done / total if total > 0 else 0.0
                pct = _DOWNLOAD_END + (track_end - _DOWNLOAD_END) * min(share, 1.0)
                ctx.progress.update(
                    Stage.TRACKING, pct, f"Following the object: frame {done} of {total}"
                )

            result: TrackResult = await run_step(
                ctx,
                "tracking",
                self._track,
                *(video, masks, event.points, on_frame),
                permanent=(TrackingError, MediaError),
                failure="The video could not be tracked",
            )
            if result.frames_with_object == 0:
                # Rendering would hide nothing: say so rather than deliver an unchanged video.
                raise PermanentJobError(
                    "The clicked object could not be found in the video; "
                    "try clicking nearer its centre."
                )
            ctx.progress.update(Stage.UPLOADING, track_end, "Saving the object's outline")
            with ctx.metrics.timed("upload"):
                await self._store.upload(
                    masks,
                    key,
                    {
                        "job-id": str(event.job_id),
                        "upload-key": event.upload_key,
                        "frames": str(result.frames),
                        "frames-with-object": str(result.frames_with_object),
                        "tracker-backend": self._backend,
                    },
                )
        return result
