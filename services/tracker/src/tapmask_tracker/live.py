"""A job watched while it tracks: outline previews out, the owner's hold in.

The tracking thread hands every mask to ``PreviewBook.add`` (the ``on_mask`` hook of
``tapmask_processing.track.track_to_file``); every ``step``-th one is kept as a small PNG in
displayed orientation. ``LiveLink`` is the async side, run beside the tracking thread: about
once a second it writes the book to object storage when it changed (``previews_key``) and
reads the owner's hold (``hold_key``, written by the gateway), which the tracking thread
obeys at its next frame (``HoldGate``): stop while paused, start again with corrected
clicks, wait before rendering until accepted.

Why object storage and a poll, as for cancelling (``tapmask_runtime.cancels``): the worker is
inside one job and reads its topic only between jobs, and every worker already talks to
the store. A paused job holds its worker, so a hold is bounded (``max_hold_s``, and half the
stage's time budget): past it the tracker goes on by itself and says so.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import threading
import time
from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

from tapmask_runtime.attempts import SmallObjects
from tapmask_schemas import ClickPoint, ReviewRange
from tapmask_schemas.keys import hold_key, previews_key
from tapmask_schemas.tracking import (
    MAX_PREVIEWS,
    PREVIEW_MAX_SIDE,
    FramePreview,
    TrackHold,
    TrackPreviews,
    preview_step,
)

log = logging.getLogger("tapmask.tracker")

#: How often the store is written and the hold read while a job tracks (seconds).
POLL_S = 0.5
#: An outline whose area changes by more than this factor between two previews is "unsure".
JUMP = 2.0


def preview_png(mask: npt.NDArray[np.bool_], turns: int) -> tuple[str, float]:
    """``mask`` (decoded pixels) as a base64 grey PNG of at most ``PREVIEW_MAX_SIDE`` px, in
    displayed orientation (``turns`` counter-clockwise quarter turns), and its area share."""
    shown = np.rot90(mask, turns) if turns else mask
    h, w = shown.shape
    scale = min(1.0, PREVIEW_MAX_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(shown.astype(np.uint8) * 255, size, interpolation=cv2.INTER_AREA)
    ok, png = cv2.imencode(".png", small)
    if not ok:  # pragma: no cover - OpenCV encodes any 8-bit image
        raise RuntimeError("could not encode a preview")
    return base64.b64encode(png.tobytes()).decode("ascii"), float(mask.mean())


class PreviewBook:
    """The previews of one tracking run, filled by the tracking thread, read by ``LiveLink``."""

    def __init__(self, frame_count: int, turns: int) -> None:
        self.frame_count = frame_count
        self.step = preview_step(frame_count)
        self._turns = turns
        self._lock = threading.Lock()
        self._previews: list[FramePreview] = []
        self._unsure: list[int] = []
        self._done = 0
        self._finished = False
        self._paused_at: int | None = None
        self._review: list[ReviewRange] = []
        self._revision = 0
        self.version = 0  # bumped on every change, so the writer knows when to write

    def add(self, index: int, mask: npt.NDArray[np.bool_]) -> None:
        """One tracked mask (every one, in order): kept when it is a preview frame."""
        keep = index % self.step == 0 or index == self.frame_count - 1
        # Bounded whatever the stream holds (a video with more frames than its probe said).
        keep = keep and len(self._previews) <= MAX_PREVIEWS
        shot = preview_png(mask, self._turns) if keep else None
        with self._lock:
            self._done = index + 1
            if shot is not None:
                png, area = shot
                last = self._previews[-1].area if self._previews else None
                lost = area == 0
                jumped = last is not None and last > 0 and area > 0
                jumped = jumped and max(area / last, last / area) > JUMP  # type: ignore[operator]
                if lost or jumped:
                    self._unsure.append(index)
                self._previews.append(FramePreview(frame=index, png=png, area=round(area, 5)))
            self.version += 1

    @property
    def started(self) -> bool:
        """Whether any frame was tracked (a tracking without the preview hook never is)."""
        with self._lock:
            return self._done > 0 or self._revision > 0

    def restart(self, revision: int) -> None:
        """A correction: the tracker starts again, the old outlines no longer hold."""
        with self._lock:
            self._previews, self._unsure, self._done = [], [], 0
            self._finished, self._paused_at, self._revision = False, None, revision
            self._review = []
            self.version += 1

    def mark(
        self,
        *,
        paused_at: int | None = None,
        finished: bool | None = None,
        review: list[ReviewRange] | None = None,
    ) -> None:
        with self._lock:
            self._paused_at = paused_at
            if finished is not None:
                self._finished = finished
            if review is not None:
                self._review = list(review)
            self.version += 1

    def snapshot(self) -> TrackPreviews:
        with self._lock:
            return TrackPreviews(
                revision=self._revision,
                frames_done=self._done,
                frame_count=self.frame_count,
                step=self.step,
                done=self._finished,
                paused_at=self._paused_at,
                unsure=list(self._unsure),
                review=list(self._review),
                previews=list(self._previews),
            )


class Retrack(Exception):
    """The owner corrected the clicks: track again with ``points``."""

    def __init__(self, points: list[ClickPoint], revision: int) -> None:
        super().__init__(f"corrected clicks (revision {revision})")
        self.points = points
        self.revision = revision


class HoldGate:
    """The owner's latest hold, as ``LiveLink`` last read it; asked by the tracking thread.

    ``applied`` is the revision of the clicks the current run tracks with; a hold with a
    newer revision and points means "start again with these"."""

    def __init__(self, max_hold_s: float, deadline: float | None = None) -> None:
        """``deadline``: a ``time.monotonic()`` past which no hold lasts (the stage's budget
        less a margin: a hold must never be what times the stage out)."""
        self._lock = threading.Lock()
        self._hold = TrackHold()
        self.applied = 0
        self._max_hold_s = max_hold_s
        self._deadline = deadline
        self._held_s = 0.0

    def set(self, hold: TrackHold) -> None:
        with self._lock:
            self._hold = hold

    @property
    def hold(self) -> TrackHold:
        with self._lock:
            return self._hold

    def correction(self) -> Retrack | None:
        hold = self.hold
        if hold.points and hold.revision > self.applied:
            return Retrack(list(hold.points), hold.revision)
        return None

    def out_of_time(self) -> bool:
        late = self._deadline is not None and time.monotonic() >= self._deadline
        return late or self._held_s >= self._max_hold_s

    def wait(
        self,
        holding: Callable[[TrackHold], bool],
        tick: Callable[[float], None],
        sleep: Callable[[float], None] = time.sleep,
    ) -> bool:
        """Block while ``holding(hold)`` and time is left, calling ``tick(seconds left)``
        every step (it raises when the job is cancelled or the worker stops). True when the
        hold ran out of time (the tracker goes on by itself)."""
        step = 0.2
        while holding(self.hold):
            if self.out_of_time():
                return True
            tick(self._max_hold_s - self._held_s)
            sleep(step)
            self._held_s += step
        return False


class LiveLink:
    """The async side: write the previews when they changed, read the hold, every ``POLL_S``."""

    def __init__(self, store: SmallObjects, job_id: object, book: PreviewBook, gate: HoldGate):
        self._store = store
        self._previews_key = previews_key(str(job_id))
        self._hold_key = hold_key(str(job_id))
        self.book = book
        self.gate = gate
        self._written = 0  # nothing to write before the first mask
        self._task: asyncio.Task[None] | None = None

    async def read_hold(self) -> None:
        try:
            raw = await self._store.read_bytes(self._hold_key)
            self.gate.set(TrackHold.model_validate_json(raw) if raw else TrackHold())
        except Exception:  # unreadable or the store blinked: keep the last one, ask again
            log.warning("could not read the job's hold", exc_info=True)

    async def write_previews(self) -> None:
        version = self.book.version
        if version == self._written or not self.book.started:
            return
        try:
            data = self.book.snapshot().model_dump_json().encode()
            await self._store.write_bytes(self._previews_key, data)
            self._written = version
        except Exception:  # previews are a nicety: never fail a job over them
            log.warning("could not store the outline previews", exc_info=True)

    async def _run(self) -> None:
        while True:
            await self.write_previews()
            await self.read_hold()
            await asyncio.sleep(POLL_S)

    async def __aenter__(self) -> LiveLink:
        await self.read_hold()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.write_previews()
