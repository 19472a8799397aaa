"""The renderer's unit of work on local files: video + mask stream in, result video out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tapmask_media.masks import read_mask_stream
from tapmask_media.probe import ProbeLimits, probe
from tapmask_media.progress import Progress
from tapmask_processing.render import RenderMode, RenderOptions, render_video
from tapmask_schemas import Effect, ProcessingMode


@dataclass(frozen=True)
class RenderResult:
    frames: int
    duration_seconds: float


def render_mode(mode: ProcessingMode, effect: Effect) -> RenderMode:
    """privacy hides with the chosen effect; magic_eraser erases."""
    if mode is ProcessingMode.MAGIC_ERASER:
        return RenderMode.ERASE
    return RenderMode(effect.value)


def render_to_file(
    video: Path,
    masks: Path,
    output: Path,
    mode: ProcessingMode,
    effect: Effect,
    progress: Progress,
) -> RenderResult:
    frames = render_video(
        video,
        output,
        read_mask_stream(masks),
        RenderOptions(mode=render_mode(mode, effect)),
        progress=progress,
    )
    # Our own output, not an upload: its length only (an input whose frames share one
    # timestamp gives an output no frame-rate limit would pass, though it plays).
    ours = ProbeLimits(max_fps=float("inf"), max_duration_s=float("inf"), max_frames=2**62)
    return RenderResult(frames=frames, duration_seconds=probe(output, ours).duration_s)
