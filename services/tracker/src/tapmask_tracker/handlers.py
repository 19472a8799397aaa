"""job-created -> track -> masks/{job_id}.masks in S3 -> masks-ready."""

from __future__ import annotations

import inspect
import json
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

from tapmask_media.errors import MediaError
from tapmask_media.input_check import InputCheck
from tapmask_media.orientation import quarter_turns
from tapmask_processing.track import TrackResult
from tapmask_processing.tracking import TrackingError
from tapmask_runtime.errors import PermanentJobError
from tapmask_runtime.object_store import ObjectStore
from tapmask_runtime.service import fetch, recheck_input, run_step
from tapmask_runtime.workdirs import work_dir_prefix
from tapmask_runtime.worker import JobContext, stable_event_id
from tapmask_schemas import (
    ClickPoint,
    JobCreated,
    MasksReady,
    ReviewRange,
    Stage,
)
from tapmask_schemas.keys import masks_key
from tapmask_schemas.progress import tracker_share_end
from tapmask_schemas.tracking import TrackHold
from tapmask_tracker.live import HoldGate, LiveLink, PreviewBook, Retrack

log = logging.getLogger("tapmask.tracker")

#: (video, masks file, clicks, progress) -> result; called with ``auto_faces=True`` as well
#: when the job asks for every face to be hidden too.
TrackFn = Callable[..., TrackResult]
PublishMasksReady = Callable[[MasksReady], Awaitable[None]]

# Where the steps of this stage end in the job's percent: tracking stops 2 short of the
# tracker's share (tapmask_schemas.progress), which storing the masks uses.
_DOWNLOAD_END = 2.0
_STORE_SHARE = 2.0
#: How often one job may be corrected while it tracks (each correction tracks again).
MAX_RETRACKS = 5
_READY = "The outline is ready: check it, then accept it to render"


# S3 allows 2 KB of user metadata per object, keys and values together; the review gets
# most of it, the other entries (ids, keys, counts) fit in what is left.
REVIEW_METADATA_BYTES = 1400
_REASON_CHARS = 160


def _encode_review(ranges: Sequence[ReviewRange]) -> str:
    """Compact ASCII JSON: each distinct reason once, ranges as [start, end, reason index]."""
    reasons: list[str] = []
    rows: list[list[int]] = []
    for r in ranges:
        if r.reason not in reasons:
            reasons.append(r.reason)
        rows.append([r.start_frame, r.end_frame, reasons.index(r.reason)])
    return json.dumps({"reasons": reasons, "ranges": rows}, separators=(",", ":"))


def _decode_review(text: str) -> tuple[ReviewRange, ...]:
    data: Any = json.loads(text)
    reasons = data["reasons"]
    return tuple(
        ReviewRange(start_frame=start, end_frame=end, reason=reasons[i])
        for start, end, i in data["ranges"]
    )


def compact_review(
    ranges: Sequence[ReviewRange], budget: int = REVIEW_METADATA_BYTES
) -> tuple[tuple[ReviewRange, ...], str]:
    """``ranges`` in a form that fits ``budget`` bytes of metadata, and its encoding.

    Fail-safe: when the list is too long, the two ranges closest together are joined
    (keeping the first one's reason, as the trackers do) until it fits, so the frames a
    person is asked to check only ever grow, never shrink. Long reasons are shortened."""
    merged = [
        r.model_copy(update={"reason": r.reason[:_REASON_CHARS]})
        for r in sorted(ranges, key=lambda r: (r.start_frame, r.end_frame))
    ]
    while len(merged) > 1 and len(_encode_review(merged)) > budget:
        gaps = [b.start_frame - a.end_frame for a, b in pairwise(merged)]
        i = gaps.index(min(gaps))
        a, b = merged[i], merged[i + 1]
        merged[i : i + 2] = [a.model_copy(update={"end_frame": max(a.end_frame, b.end_frame)})]
    return tuple(merged), _encode_review(merged)


class TrackStage:
    """One job-created event: its masks stored and masks-ready published, once."""

    def __init__(
        self,
        store: ObjectStore,
        track: TrackFn,
        publish: PublishMasksReady,
        backend_name: str,
        work_dir: Path | None = None,
        check_input: InputCheck | None = None,
        max_hold_s: float = 300.0,
        stage_budget_s: Callable[[float], float] | None = None,
    ) -> None:
        self._max_hold_s = max_hold_s
        self._stage_budget_s = stage_budget_s
        self._store = store
        self._track = track
        self._publish = publish
        self._backend = backend_name
        self._work_dir = work_dir
        self._check_input = check_input

    def use(self, track: TrackFn, backend_name: str) -> None:
        """Swap in the tracking function once the model is loaded."""
        self._track = track
        self._backend = backend_name

    async def __call__(self, event: JobCreated, ctx: JobContext) -> None:
        key = masks_key(event.job_id)
        share_end = tracker_share_end(event.mode)
        track_end = share_end - _STORE_SHARE
        existing = await self._store.metadata(key)
        stored = _stored_result(existing, event) if existing is not None else None
        if stored is not None:
            # A redelivery after the masks were stored: re-announce, don't recompute.
            log.info("masks already stored at %s; re-publishing masks-ready", key)
            result = stored
        else:
            result = await self._compute(event, ctx, key, track_end)
        ctx.progress.update(Stage.UPLOADING, share_end, "The object's outline is saved")
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
                tracker_backend=result.backend or self._backend,
                review=list(result.review),
            )
        )
        log.info(
            "masks ready: %d frames, object seen in %d, tracker %s, %d range(s) to check",
            result.frames,
            result.frames_with_object,
            result.backend or self._backend,
            len(result.review),
        )

    async def _compute(
        self, event: JobCreated, ctx: JobContext, key: str, track_end: float
    ) -> TrackResult:
        with tempfile.TemporaryDirectory(
            prefix=work_dir_prefix("track"), dir=self._work_dir
        ) as tmp:
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
            await recheck_input(ctx, self._check_input, video, event.video, permanent=(MediaError,))
            ctx.progress.update(Stage.TRACKING, _DOWNLOAD_END, "Following the object")
            result, points = await self._track_live(event, ctx, video, masks, track_end)
            if result.frames_with_object == 0 and points:
                # Rendering would hide nothing: say so rather than deliver an unchanged video.
                # (A faces-only job with no face in it is delivered unchanged: that is the
                # answer to "hide every face".)
                raise PermanentJobError(
                    "The clicked object could not be found in the video; "
                    "try clicking nearer its centre."
                )
            # What is stored is what is announced, now and on any redelivery.
            review, review_text = compact_review(result.review)
            result = replace(result, backend=result.backend or self._backend, review=review)
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
                        "tracker-backend": result.backend or self._backend,
                        "review": review_text,
                    },
                )
        return result

    def _hold_limit(self, event: JobCreated) -> tuple[float, float | None]:
        """How long the owner may hold this job in all: ``max_hold_s``, and at most half the
        stage's time budget (the rest is for tracking, again after a correction); and the
        moment no hold may pass (the budget less a minute, from now, about when the stage
        began: a hold must never be what times the stage out)."""
        if self._stage_budget_s is None:
            return self._max_hold_s, None
        budget = self._stage_budget_s(event.video.duration_seconds)
        return min(self._max_hold_s, budget / 2), time.monotonic() + budget - min(60.0, budget / 4)

    async def _track_live(
        self, event: JobCreated, ctx: JobContext, video: Path, masks: Path, track_end: float
    ) -> tuple[TrackResult, list[ClickPoint]]:
        """Track with outline previews going out and the owner's hold obeyed: paused at the
        next frame, tracked again from the start with corrected clicks (the old outline no
        longer holds for any frame the new clicks may change), and held before rendering
        until accepted. Returns the result and the clicks it was tracked with."""
        book = PreviewBook(event.video.frame_count, quarter_turns(event.video.rotation))
        gate = HoldGate(*self._hold_limit(event))
        points = list(event.points)
        takes_previews = _accepts(self._track, "on_mask")

        def corrected(hold: TrackHold) -> bool:
            return bool(hold.points) and hold.revision > gate.applied

        def on_frame(done: int, total: int) -> None:
            share = done / total if total > 0 else 0.0
            pct = _DOWNLOAD_END + (track_end - _DOWNLOAD_END) * min(share, 1.0)
            ctx.progress.update(
                Stage.TRACKING, pct, f"Following the object: frame {done} of {total}"
            )
            if gate.hold.paused and not corrected(gate.hold):
                book.mark(paused_at=done)
                said = f"Paused at frame {done} of {total}"
                ran_out = gate.wait(
                    lambda h: h.paused and not corrected(h),
                    lambda _left: ctx.progress.update(Stage.TRACKING, pct, said),
                )
                book.mark(paused_at=None)
                if ran_out:
                    log.info("paused past the hold limit; tracking goes on by itself")
            fix = gate.correction()
            if fix is not None:
                raise fix

        async with LiveLink(self._store, event.job_id, book, gate) as link:
            for _ in range(MAX_RETRACKS + 1):
                track = partial(self._track, auto_faces=True) if event.auto_faces else self._track
                if takes_previews:
                    track = partial(track, on_mask=book.add)
                try:
                    result: TrackResult = await run_step(
                        ctx,
                        "tracking",
                        track,
                        *(video, masks, points, on_frame),
                        permanent=(TrackingError, MediaError),
                        failure="The video could not be tracked",
                    )
                    # The tracker's own frames to check, on the slider while the OK waits.
                    book.mark(finished=True, review=list(compact_review(result.review)[0]))
                    await link.write_previews()
                    ran_out = await ctx.run_blocking(
                        gate.wait,
                        lambda h: (h.paused or h.at_end) and not corrected(h),
                        lambda _left: ctx.progress.update(Stage.TRACKING, track_end, _READY),
                    )
                    if ran_out:
                        log.info("held past the hold limit; rendering without an answer")
                    fix = gate.correction()
                    if fix is None or ran_out:
                        return result, points
                    raise fix
                except Retrack as fix:
                    log.info("clicks corrected by the owner; tracking again (%s)", fix)
                    gate.applied = fix.revision
                    points = fix.points
                    book.restart(fix.revision)
                    ctx.progress.update(
                        Stage.TRACKING, _DOWNLOAD_END, "Following the object with your correction"
                    )
        raise PermanentJobError(
            f"The clicks were corrected more than {MAX_RETRACKS} times while tracking; "
            "start a new job with the final clicks."
        )


def _accepts(fn: Callable[..., object], name: str) -> bool:
    """Whether ``fn`` takes the keyword ``name`` (a test's fake tracking may not)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _stored_result(metadata: dict[str, str], event: JobCreated) -> TrackResult | None:
    """What the stored masks of ``event`` were announced with, or None when they belong to
    another upload or their review cannot be read back (then they are made again: a
    redelivery never announces "nothing to check" for masks that may have had some)."""
    if metadata.get("upload-key") != event.upload_key:
        return None
    try:
        # Masks stored before review ranges existed have none (those trackers had none).
        review = _decode_review(metadata["review"]) if "review" in metadata else ()
    except (ValueError, KeyError, IndexError, TypeError):
        log.warning(
            "stored masks of job %s have an unreadable review; tracking again", event.job_id
        )
        return None
    return TrackResult(
        frames=int(metadata.get("frames", 0)),
        frames_with_object=int(metadata.get("frames-with-object", 0)),
        backend=metadata.get("tracker-backend"),
        review=review,
    )
