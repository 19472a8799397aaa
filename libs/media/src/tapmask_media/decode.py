"""Lazy frame decoding: a generator over frames, never a list of them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from tapmask_media.errors import TruncatedFileError
from tapmask_media.probe import ProbeLimits, open_input

RGBFrame = npt.NDArray[np.uint8]


def scaled_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(w, h) with the longest side at most ``max_side``, aspect kept, sides even."""
    if not max_side or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def iter_video_frames(
    path: Path, limits: ProbeLimits | None = None, threads: int = 0
) -> Iterator[av.VideoFrame]:
    """Decoded frames of the first video stream, in presentation order, one at a time.

    ``threads=0`` lets FFmpeg pick (frame + slice threads)."""
    with open_input(path, limits) as container:
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        video.codec_context.thread_count = threads
        index = 0
        try:
            for frame in container.decode(video):
                yield frame
                index += 1
        except av.error.FFmpegError as exc:
            raise TruncatedFileError(
                f"{path}: the video data is damaged or truncated after frame {index} "
                f"({exc.strerror})"
            ) from exc


def iter_rgb_frames(
    path: Path,
    max_side: int | None = None,
    limits: ProbeLimits | None = None,
    threads: int = 0,
) -> Iterator[RGBFrame]:
    """RGB uint8 H x W x 3 frames, downscaled (by swscale) to ``max_side`` if given."""
    for frame in iter_video_frames(path, limits, threads):
        w, h = scaled_size(frame.width, frame.height, max_side)
        rgb: RGBFrame = frame.to_ndarray(width=w, height=h, format="rgb24")  # type: ignore[assignment]
        yield rgb
