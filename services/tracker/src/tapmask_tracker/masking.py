"""The tracker's unit of work on local files: a video and clicks in, a ``.tmask`` file out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tapmask_media.masks import MaskWriter
from tapmask_media.probe import probe
from tapmask_schemas import ClickPoint, ReviewRange
from tapmask_tracker.core import Prompt, Tracker
from tapmask_tracker.core.tracking import ReviewRange as TrackerReviewRange
from tapmask_tracker.pipeline import Mask, track_video

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class TrackResult:
    frames: int
    frames_with_object: int
    #: The tracker's name (``Tracker.name``); None when the caller knows it (test fakes).
    backend: str | None = None
    #: Frames a person should check, as the tracker reported them when the stream ended.
    review: tuple[ReviewRange, ...] = ()


def review_of(ranges: Sequence[TrackerReviewRange], frames: int) -> tuple[ReviewRange, ...]:
    """The tracker's review ranges as event models, clipped to the ``frames`` there are
    (a range wholly past the end is dropped; an unordered one is put in order)."""
    out = []
    for r in ranges:
        start, end = sorted((r.start, r.end))
        start, end = max(start, 0), min(end, frames - 1)
        if start <= end:
            out.append(ReviewRange(start_frame=start, end_frame=end, reason=r.reason))
    return tuple(sorted(out, key=lambda r: (r.start_frame, r.end_frame)))


def prompts_from(points: Sequence[ClickPoint]) -> list[Prompt]:
    return [Prompt(p.x, p.y, p.frame, p.positive, p.object_id) for p in points]


def track_to_file(
    video: Path,
    masks_path: Path,
    tracker: Tracker,
    points: Sequence[ClickPoint],
    progress: Progress,
    faces: Tracker | None = None,
) -> TrackResult:
    """Track the clicked object(s) through ``video`` into the mask stream ``masks_path``;
    with ``faces`` (a face tracker), every face goes into the same masks, and its review
    ranges join the object tracker's."""
    info = probe(video)
    seen = 0
    with masks_path.open("wb") as fh, MaskWriter(fh, info.width, info.height) as writer:

        def sink(mask: Mask) -> None:
            nonlocal seen
            writer.write(mask)
            seen += bool(mask.any())

        prompts = prompts_from(points)
        frames = track_video(
            video, tracker if prompts else None, prompts, sink, progress, faces=faces
        )
    # The stream has ended, so the trackers have filled in their review (see ``Tracker``).
    ranges = [*(tracker.review if prompts else []), *(faces.review if faces else [])]
    return TrackResult(
        frames=frames,
        frames_with_object=seen,
        backend=f"{tracker.name}+{faces.name}"
        if faces and prompts
        else (faces.name if faces else tracker.name),
        review=review_of(ranges, frames),
    )
