"""The tracker's unit of work on local files: a video and clicks in, a ``.tmask`` file out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tapmask_media.masks import MaskWriter
from tapmask_media.probe import probe
from tapmask_schemas import ClickPoint
from tapmask_tracker.core import Prompt, Tracker
from tapmask_tracker.pipeline import Mask, track_video

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class TrackResult:
    frames: int
    frames_with_object: int


def prompts_from(points: Sequence[ClickPoint]) -> list[Prompt]:
    return [Prompt(p.x, p.y, p.frame, p.positive, p.object_id) for p in points]


def track_to_file(
    video: Path,
    masks_path: Path,
    tracker: Tracker,
    points: Sequence[ClickPoint],
    progress: Progress,
) -> TrackResult:
    """Track the clicked object(s) through ``video`` into the mask stream ``masks_path``."""
    info = probe(video)
    seen = 0
    with masks_path.open("wb") as fh, MaskWriter(fh, info.width, info.height) as writer:

        def sink(mask: Mask) -> None:
            nonlocal seen
            writer.write(mask)
            seen += bool(mask.any())

        frames = track_video(video, tracker, prompts_from(points), sink, progress)
    return TrackResult(frames=frames, frames_with_object=seen)
