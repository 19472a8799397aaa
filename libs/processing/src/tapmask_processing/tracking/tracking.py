"""The tracking contract: prompts in, one mask per frame out, streamed.

A tracker receives RGB ``uint8`` frames (H x W x 3) in display order and yields, for each,
one boolean H x W mask: the union of every prompted object. It reads at most a bounded
number of frames ahead of what it has yielded, so memory does not grow with video length.

Objects and time: an object whose first positive prompt is on frame ``f`` is empty on
frames before ``f`` (trackers stream forward and never look back) and tracked from ``f``
on. A negative prompt excludes the region under it, on its frame, from the object with
the same ``object_id`` (sam2 keeps it as a prompt of that frame; the cpu tracker cuts it
from the mask it carries on); a negative prompt whose ``object_id`` has no positive
prompt applies to every object.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

# One definition (what the mask stream stores), re-exported for the backends.
from tapmask_media.masks import Mask as Mask

Frame = npt.NDArray[np.uint8]


class TrackingError(ValueError):
    """A prompt or frame the tracker cannot work with (named in the message)."""


@dataclass(frozen=True)
class Prompt:
    """A click in pixel coordinates of the frames handed to the tracker."""

    x: float
    y: float
    frame: int = 0
    positive: bool = True
    object_id: int = 0


@dataclass(frozen=True)
class ReviewSpan:
    """Frames ``start``..``end`` (inclusive) where the tracker was unsure and a person
    should look: the mask there was held and widened rather than trusted.

    The tracker's own, unchecked note (a span may run past the last frame or back to front);
    the public contract is ``tapmask_schemas.ReviewRange`` (``start_frame``/``end_frame``,
    validated), which ``tapmask_processing.track.review_of`` builds from these, clipped to
    the video. Two types, two names: one is pure tracking, the other the wire format."""

    start: int
    end: int
    reason: str


def review_ranges(flags: Sequence[tuple[int, str]], gap: int = 3) -> list[ReviewSpan]:
    """Flagged ``(frame, reason)`` pairs (in frame order) -> ranges; flags at most
    ``gap`` frames apart join one range, which keeps the first reason."""
    ranges: list[ReviewSpan] = []
    for frame, reason in flags:
        if ranges and frame - ranges[-1].end <= gap:
            last = ranges[-1]
            ranges[-1] = ReviewSpan(last.start, max(last.end, frame), last.reason)
        else:
            ranges.append(ReviewSpan(frame, frame, reason))
    return ranges


class Tracker(Protocol):
    """Anything that turns a frame stream plus prompts into a mask stream."""

    #: Longest frame side the backend works at; callers may downscale frames to it
    #: (scaling prompts by the same factor). ``None``: any size is fine.
    max_side: int | None
    #: The backend's name as users see it (CLI output, job status).
    name: str
    #: After a stream ends: the frame ranges a person should check (see ``ReviewSpan``).
    review: list[ReviewSpan]

    def track(self, frames: Iterable[Frame], prompts: Sequence[Prompt]) -> Iterator[Mask]:
        """Yield one boolean mask per frame, lazily, in the order of ``frames``."""
        ...


def validate_prompts(prompts: Sequence[Prompt]) -> None:
    """Reject prompt sets no tracker can use, before any frame is read."""
    if not any(p.positive for p in prompts):
        raise TrackingError("at least one positive prompt (a click on the object) is needed")
    for p in prompts:
        if p.frame < 0:
            raise TrackingError(f"prompt {p} is on a negative frame index {p.frame}")
        if not (np.isfinite(p.x) and np.isfinite(p.y)):
            raise TrackingError(f"prompt {p} has a non-finite coordinate")


def check_prompt_in_frame(prompt: Prompt, width: int, height: int) -> None:
    """Raise ``TrackingError`` when ``prompt`` lies outside a ``width`` x ``height`` frame."""
    if not (0 <= prompt.x < width and 0 <= prompt.y < height):
        raise TrackingError(
            f"click ({prompt.x:g}, {prompt.y:g}) on frame {prompt.frame} is outside the "
            f"{width}x{height} frame"
        )


def check_frame(frame: Frame, index: int) -> None:
    """Raise ``TrackingError`` unless ``frame`` is an RGB uint8 H x W x 3 array."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise TrackingError(
            f"frame {index} must be RGB uint8 HxWx3, got {frame.dtype} of shape {frame.shape}"
        )


def check_all_prompts_used(prompts: Sequence[Prompt], frame_count: int) -> None:
    """Raise when the video ended before a prompt's frame was reached."""
    late = [p for p in prompts if p.frame >= frame_count]
    if late:
        raise TrackingError(
            f"prompt on frame {late[0].frame} but the video has only {frame_count} frames"
        )


def negatives_for(prompts: Sequence[Prompt], object_id: int) -> list[Prompt]:
    """Negative prompts that apply to ``object_id`` (its own, plus object-less ones)."""
    with_positive = {p.object_id for p in prompts if p.positive}
    return [
        p
        for p in prompts
        if not p.positive and (p.object_id == object_id or p.object_id not in with_positive)
    ]
