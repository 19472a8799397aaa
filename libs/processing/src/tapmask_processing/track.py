"""Track prompted objects through a video file in-process: decode -> tracker -> masks, and
into a ``.tmask`` file (``track_to_file``, the tracker service's unit of work).

The CLI and the tracker service both call these. Frames are decoded lazily (downscaled
by swscale to the tracker's working size when it has one, with prompts scaled to match)
and masks come back one per frame at the video's own size.

Clicks are in *displayed* pixels (what a browser or player shows, after the file's
display rotation); they are mapped to decoded-frame pixels here, before tracking. Masks
stay in decoded pixels, the renderer draws there and the encoder keeps the rotation
metadata, so the output displays the same way as the input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from tapmask_media.decode import iter_rgb_frames, prefetch, scaled_size
from tapmask_media.masks import Mask, MaskWriter
from tapmask_media.orientation import display_to_frame, quarter_turns
from tapmask_media.probe import ProbeLimits, VideoInfo, probe
from tapmask_media.progress import Progress
from tapmask_processing.tracking.tracking import (
    Prompt,
    ReviewSpan,
    Tracker,
    TrackingError,
    check_prompt_in_frame,
    validate_prompts,
)
from tapmask_schemas import ClickPoint, ReviewRange


def check_prompts(prompts: Sequence[Prompt], info: VideoInfo) -> None:
    """Reject prompts (displayed pixels) outside the displayed frame or past the last
    frame, before any decoding."""
    validate_prompts(prompts)
    for p in prompts:
        check_prompt_in_frame(p, info.display_width, info.display_height)
        if p.frame >= info.frame_count:
            raise TrackingError(
                f"click on frame {p.frame}, but the video has {info.frame_count} frames "
                f"(0..{info.frame_count - 1})"
            )


def to_frame_prompts(prompts: Sequence[Prompt], info: VideoInfo) -> list[Prompt]:
    """``prompts`` in displayed pixels -> the same clicks in decoded-frame pixels."""
    out = []
    for p in prompts:
        x, y = display_to_frame(p.x, p.y, info.width, info.height, info.rotation)
        out.append(replace(p, x=x, y=y))
    return out


def scale_mask(mask: Mask, width: int, height: int) -> Mask:
    """``mask`` at ``width`` x ``height`` (a smooth resize, thresholded at half, so the edge
    does not come back as blocks)."""
    if mask.shape == (height, width):
        return mask
    up = cv2.resize(mask.astype(np.uint8) * 255, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.asarray(up) > 127


def _at_video_size(mask: Mask, info: VideoInfo) -> Mask:
    """A mask from a tracker's working size back at the decoded frame's size."""
    return scale_mask(mask, info.width, info.height)


def iter_video_masks(
    input_path: Path,
    tracker: Tracker,
    prompts: Sequence[Prompt],
    info: VideoInfo | None = None,
    limits: ProbeLimits | None = None,
) -> Iterator[Mask]:
    """One bool mask per frame of ``input_path`` at the decoded frame's size, lazily.

    ``prompts`` are in displayed pixels (see the module docstring)."""
    info = info or probe(input_path, limits)
    check_prompts(prompts, info)
    w, h = scaled_size(info.width, info.height, tracker.max_side)
    sx, sy = w / info.width, h / info.height
    scaled = [replace(p, x=p.x * sx, y=p.y * sy) for p in to_frame_prompts(prompts, info)]
    frames = prefetch(iter_rgb_frames(input_path, tracker.max_side, limits), depth=4)
    for mask in tracker.track(frames, scaled):
        yield _at_video_size(mask, info)


def iter_job_masks(
    input_path: Path,
    tracker: Tracker | None,
    prompts: Sequence[Prompt],
    faces: Tracker | None = None,
    info: VideoInfo | None = None,
    limits: ProbeLimits | None = None,
) -> Iterator[Mask]:
    """The clicked objects' masks (``tracker`` with ``prompts``) united with every face's
    (``faces``), one per frame at the decoded size, lazily; either may be None.

    Each runs on its own decoded stream, at its own working size (the cpu tracker works at
    480 px, where a 20 px face would be 7 px and lost); zipping the two lazy streams keeps
    memory flat whatever look-ahead either has."""
    info = info or probe(input_path, limits)
    if tracker is None and faces is None:
        raise TrackingError("nothing to hide: no click and no faces asked for")
    objects = iter_video_masks(input_path, tracker, prompts, info, limits) if tracker else None
    found = iter_face_masks(input_path, faces, info, limits) if faces else None
    if objects is None:
        assert found is not None
        yield from found
        return
    if found is None:
        yield from objects
        return
    for a, b in zip(objects, found, strict=True):
        yield a | b


def iter_face_masks(
    input_path: Path,
    faces: Tracker,
    info: VideoInfo | None = None,
    limits: ProbeLimits | None = None,
) -> Iterator[Mask]:
    """Every face's mask, one per frame at the decoded size, lazily.

    A phone stores its video sideways with a display rotation; faces are upright only in
    the displayed picture (CenterFace finds few faces lying on their side), so frames are
    turned upright for the face finder and its masks turned back to decoded pixels."""
    info = info or probe(input_path, limits)
    turns = quarter_turns(info.rotation)
    frames: Iterator[npt.NDArray[np.uint8]] = prefetch(
        iter_rgb_frames(input_path, faces.max_side, limits), depth=4
    )
    if turns:
        frames = (np.ascontiguousarray(np.rot90(f, turns)) for f in frames)
    for mask in faces.track(frames, ()):
        if turns:
            mask = np.ascontiguousarray(np.rot90(mask, -turns))
        yield _at_video_size(mask, info)


def track_video(
    input_path: Path,
    tracker: Tracker | None,
    prompts: Sequence[Prompt],
    mask_sink: Callable[[Mask], object],
    progress: Progress | None = None,
    limits: ProbeLimits | None = None,
    faces: Tracker | None = None,
) -> int:
    """Track through the whole video, handing each mask to ``mask_sink`` (e.g. a
    ``MaskWriter.write``); with ``faces``, every face is in the masks too. Returns the
    number of masks."""
    info = probe(input_path, limits)
    count = 0
    masks = iter_job_masks(input_path, tracker, prompts, faces, info, limits)
    for count, mask in enumerate(masks, 1):
        mask_sink(mask)
        if progress is not None:
            progress(count, info.frame_count)
    return count


@dataclass(frozen=True)
class TrackResult:
    frames: int
    frames_with_object: int
    #: The tracker's name (``Tracker.name``); None when the caller knows it (test fakes).
    backend: str | None = None
    #: Frames a person should check, as the tracker reported them when the stream ended.
    review: tuple[ReviewRange, ...] = ()


def review_of(ranges: Sequence[ReviewSpan], frames: int) -> tuple[ReviewRange, ...]:
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
    on_mask: Callable[[int, Mask], object] | None = None,
) -> TrackResult:
    """Track the clicked object(s) through ``video`` into the mask stream ``masks_path``;
    with ``faces`` (a face tracker), every face goes into the same masks, and its review
    ranges join the object tracker's. ``on_mask(index, mask)`` sees each mask as it is
    written (decoded pixels; the tracker service keeps low-resolution outline previews)."""
    info = probe(video)
    seen = 0
    with masks_path.open("wb") as fh, MaskWriter(fh, info.width, info.height) as writer:

        def sink(mask: Mask) -> None:
            nonlocal seen
            if on_mask is not None:
                on_mask(writer.count, mask)
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
