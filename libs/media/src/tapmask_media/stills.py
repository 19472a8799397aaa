"""One frame of a video by its index, as players show it, and small image encodings.

The web app lets a person pick any frame to click on, also of files the browser cannot
decode (AVI, HEVC): the server hands out that frame as a JPEG, and the mask preview as a
PNG. Frame ``i`` here is the ``i``-th frame in presentation order, the numbering of a
click's ``frame`` and of the tracker's masks.

Why a timestamp table and a seek, not decoding from the start: on a 720p H.264 clip
decoding runs at ~300 fps on 2 cores, so frame 15000 of a 10-minute clip would take
~50 s from the start; demuxing the packets once (no decoding) gives each frame's
timestamp, and a seek to the keyframe before it then decodes at most one GOP. Files
whose packets carry no timestamps (some AVIs) fall back to decoding from the start.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from tapmask_media.decode import RGBFrame, scaled_size
from tapmask_media.errors import (
    FrameSizeChangedError,
    MediaError,
    MediaLimitError,
    TruncatedFileError,
)
from tapmask_media.orientation import quarter_turns
from tapmask_media.probe import ProbeLimits, open_input


def frame_timestamps(path: Path, limits: ProbeLimits | None = None) -> list[int] | None:
    """Presentation timestamps of the first video stream's frames, in order (demuxed, not
    decoded); ``None`` when any packet has none (decode from the start instead)."""
    stamps: list[int] = []
    with open_input(path, limits) as container:
        video = container.streams.video[0]
        for packet in container.demux(video):
            if packet.size == 0:  # the flush packet at the end
                continue
            if packet.pts is None:
                return None
            stamps.append(int(packet.pts))
    stamps.sort()
    return stamps


def _to_rgb(frame: av.VideoFrame, max_side: int | None, rotation: int) -> RGBFrame:
    w, h = scaled_size(frame.width, frame.height, max_side)
    rgb: RGBFrame = frame.to_ndarray(width=w, height=h, format="rgb24")  # type: ignore[assignment]
    turns = quarter_turns(rotation)
    return np.ascontiguousarray(np.rot90(rgb, k=turns)) if turns else rgb


def read_frame(
    path: Path,
    index: int,
    rotation: int = 0,
    timestamps: Sequence[int] | None = None,
    max_side: int | None = None,
    limits: ProbeLimits | None = None,
) -> RGBFrame:
    """Frame ``index`` (0-based, presentation order) as RGB, turned as players show it
    (``rotation``: the probe's counter-clockwise degrees), its longer side at most
    ``max_side``. ``timestamps`` (from ``frame_timestamps``) makes it a seek.

    Under the same caps as ``decode.iter_video_frames`` (issue 18: a file whose frames grow
    from 640x480 to 12000x9000 after frame 4 had the gateway decode 108-megapixel frames
    the probe never saw): the decoder refuses a picture over ``limits.max_pixels`` before
    allocating it, and a decoded frame whose size is not the stream's (the size the probe
    checked) ends the read with :class:`FrameSizeChangedError`, before it is converted."""
    if index < 0:
        raise MediaError(f"frame {index} does not exist (frames count from 0)")
    limits = limits or ProbeLimits()
    with open_input(path, limits) as container:
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        cc = video.codec_context
        # Applied when the decoder opens, at the first packet.
        cc.options = {**cc.options, "max_pixels": str(limits.max_pixels)}
        expected = (cc.width, cc.height)

        def checked(frame: av.VideoFrame) -> av.VideoFrame:
            if (frame.width, frame.height) != expected:
                raise FrameSizeChangedError(
                    f"frame {index} cannot be shown: by then the picture is "
                    f"{frame.width}x{frame.height} but the video is {expected[0]}x{expected[1]}: "
                    "a video whose picture changes size mid-stream is not supported (re-export "
                    "it at one size)"
                )
            return frame

        try:
            if timestamps is not None:
                if index >= len(timestamps):
                    raise MediaError(
                        f"frame {index} does not exist: the video has {len(timestamps)} frames"
                    )
                target = timestamps[index]
                container.seek(target, backward=True, any_frame=False, stream=video)
                for frame in container.decode(video):
                    checked(frame)
                    if frame.pts is None or frame.pts < target:
                        continue
                    return _to_rgb(frame, max_side, rotation)
                # The seek overshot (a broken index): count from the start instead.
                container.seek(0, backward=True, stream=video)
                for frame in container.decode(video):
                    checked(frame)
                    if frame.pts is not None:
                        i = bisect.bisect_left(timestamps, frame.pts)
                        if i == index:
                            return _to_rgb(frame, max_side, rotation)
            else:
                for i, frame in enumerate(container.decode(video)):
                    checked(frame)
                    if i == index:
                        return _to_rgb(frame, max_side, rotation)
        except av.error.ArgumentError as exc:
            # EINVAL from the decoder: a picture size it was told not to allocate.
            raise MediaLimitError(
                f"frame {index} cannot be shown: by then the picture is larger than the "
                f"{limits.max_pixels} pixels allowed, or its size is invalid ({exc.strerror})"
            ) from exc
        except av.error.FFmpegError as exc:
            raise TruncatedFileError(
                f"the video data is damaged or truncated before frame {index} ({exc.strerror})"
            ) from exc
    raise MediaError(f"frame {index} does not exist in this video")


def encode_jpeg(rgb: RGBFrame, quality: int = 85) -> bytes:
    """``rgb`` as a baseline JPEG (FFmpeg's mjpeg encoder through PyAV)."""
    h, w = rgb.shape[:2]
    ctx = av.CodecContext.create("mjpeg", "w")
    ctx.width, ctx.height = w, h
    ctx.pix_fmt = "yuvj444p"
    ctx.time_base = Fraction(1, 25)  # required by the encoder, meaningless for a still
    # qscale 2..31 (lower is better): quality 85 ~ q 4.
    q = max(2, min(31, round(2 + (100 - quality) * 29 / 100 / 1.5)))
    ctx.options = {"qmin": str(q), "qmax": str(q)}
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    frame = frame.reformat(format="yuvj444p")
    packets = [*ctx.encode(frame), *ctx.encode(None)]
    return b"".join(bytes(p) for p in packets)


def encode_png_mask(mask: npt.NDArray[np.bool_]) -> bytes:
    """A boolean mask as an 8-bit grey PNG: 255 on the object, 0 elsewhere."""
    grey = np.ascontiguousarray(np.where(mask, 255, 0).astype(np.uint8))
    h, w = grey.shape
    ctx = av.CodecContext.create("png", "w")
    ctx.width, ctx.height, ctx.pix_fmt = w, h, "gray"
    frame = av.VideoFrame.from_ndarray(grey, format="gray")
    packets = [*ctx.encode(frame), *ctx.encode(None)]
    return b"".join(bytes(p) for p in packets)
