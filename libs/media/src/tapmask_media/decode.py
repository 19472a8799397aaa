"""Lazy frame decoding: a generator over frames, never a list of them."""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import TypeVar, cast

import av
import numpy as np
import numpy.typing as npt

from tapmask_media.errors import FrameSizeChangedError, MediaLimitError, TruncatedFileError
from tapmask_media.probe import ProbeLimits, open_input

RGBFrame = npt.NDArray[np.uint8]
T = TypeVar("T")


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

    ``threads=0`` lets FFmpeg pick (frame + slice threads).

    The probe looks at the first frame only, and in MJPEG (or an H.264 stream with a new
    SPS) every frame carries its own size: an AVI of 640x480 frames followed by
    12000x9000 ones passed the probe and had the renderer allocate 162 MB frames three
    times over (issue 9). So the decoder itself is capped at ``limits.max_pixels``
    (FFmpeg's ``max_pixels``: a bigger picture is refused before it is allocated), and a
    frame whose size differs from the stream's - the size the probe checked - ends the
    stream with :class:`FrameSizeChangedError` rather than reaching a stage that sized
    its buffers by the first frame."""
    limits = limits or ProbeLimits()
    with open_input(path, limits) as container:
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        cc = video.codec_context
        cc.thread_count = threads
        # Applied when the decoder opens, at the first packet.
        cc.options = {**cc.options, "max_pixels": str(limits.max_pixels)}
        expected = (cc.width, cc.height)
        index = 0
        try:
            for frame in container.decode(video):
                if (frame.width, frame.height) != expected:
                    raise FrameSizeChangedError(
                        f"{path}: frame {index} is {frame.width}x{frame.height} but the video "
                        f"is {expected[0]}x{expected[1]}: a video whose picture changes size "
                        "mid-stream is not supported (re-export it at one size)"
                    )
                yield frame
                index += 1
        except av.error.ArgumentError as exc:
            # EINVAL from the decoder: a picture size it was told not to allocate.
            raise MediaLimitError(
                f"{path}: frame {index} could not be decoded: its picture is larger than the "
                f"{limits.max_pixels} pixels allowed, or its size is invalid ({exc.strerror})"
            ) from exc
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


_END = object()


def prefetch(items: Iterable[T], depth: int = 8) -> Generator[T, None, None]:
    """Iterate ``items`` in a background thread, at most ``depth`` items ahead.

    PyAV releases the GIL inside FFmpeg, so decoding overlaps the consumer's work
    (compositing, encoding). Exceptions are re-raised in the consumer; closing the
    returned generator stops the producer."""
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_END)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            q.put(exc)

    worker = threading.Thread(target=produce, name="tapmask-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield cast(T, item)
    finally:
        stop.set()
        while worker.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)
