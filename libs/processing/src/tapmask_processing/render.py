"""Render a whole video in-process: decode -> hide or erase the masked region -> encode.

The CLI and the renderer service both call :func:`render_video`. Frames stream through
(a decode thread a few frames ahead, the encoder behind); blur/pixelate/fill work on the
decoder's yuv420p planes inside the mask's box only, so pixels outside the mask are
re-encoded, never altered. Erase decodes the video three times (``rendering/wholevideo``:
masks and camera motion, then the crops other frames' holes read, then the render; what
waits in between is on disk) so a hole can be filled from any frame of the video; it
copies back only the pixels it changed (a frame with an empty mask: none). Scenes with
parallax, or an explicit ``erase_window``, get the window eraser (``erase_stream``).

:func:`render_video` returns the number of frames written as a :class:`Rendered`, an
``int`` (what callers always got) that also names the frames whose erased background had
to be invented because no frame showed it: the ones to review.
"""

from __future__ import annotations

import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt

from tapmask_media.decode import iter_video_frames, prefetch
from tapmask_media.encode import EncodeSettings, VideoWriter
from tapmask_media.masks import Mask, MaskFormatError
from tapmask_media.probe import ProbeLimits, VideoInfo, probe
from tapmask_media.progress import Progress
from tapmask_processing.rendering.compositing import EffectSettings, apply_yuv_planes, yuv_encoding
from tapmask_schemas import Effect

#: AVColorSpace codes swscale converts with (BT.709, FCC, BT.601 x2, SMPTE 240M, BT.2020);
#: others (unspecified, RGB, ...) fall back to its default, as decoding to RGB does.
_TAGGED_MATRICES = frozenset({1, 4, 5, 6, 7, 9, 10})


class RenderMode(StrEnum):
    BLUR = "blur"
    PIXELATE = "pixelate"
    FILL = "fill"
    ERASE = "erase"


@dataclass(frozen=True)
class RenderOptions:
    """What to do with the masked region, and how to encode."""

    mode: RenderMode = RenderMode.BLUR
    effect: EffectSettings = field(default_factory=EffectSettings)
    encode: EncodeSettings = field(default_factory=EncodeSettings)
    limits: ProbeLimits = field(default_factory=ProbeLimits)
    #: ``None``: the whole-video eraser; a number: the window eraser holding that many
    #: frames (the eraser before issue 17, kept as the benchmarks' baseline).
    erase_window: int | None = None
    #: Decoded frames buffered ahead of the renderer.
    prefetch: int = 8

    def __post_init__(self) -> None:
        # Accept plain strings from settings and events ("blur"); fail early on others.
        object.__setattr__(self, "mode", RenderMode(self.mode))
        if self.prefetch < 1:
            raise ValueError("prefetch must be at least 1 frame")


class Rendered(int):
    """Frames written; ``synthesized`` lists, as inclusive (first, last) frame ranges, where
    the eraser synthesized background spatially (no frame showed it): worth a review.
    Empty for the hiding modes, and when every erased pixel was seen in another frame."""

    synthesized: tuple[tuple[int, int], ...]

    def __new__(cls, frames: int, synthesized: Iterable[tuple[int, int]] = ()) -> Rendered:
        made = super().__new__(cls, frames)
        made.synthesized = tuple(synthesized)
        return made


def _spans(indices: Iterable[int]) -> list[tuple[int, int]]:
    """Increasing frame indices as inclusive (first, last) runs."""
    spans: list[tuple[int, int]] = []
    for i in indices:
        if spans and spans[-1][1] == i - 1:
            spans[-1] = (spans[-1][0], i)
        else:
            spans.append((i, i))
    return spans


def fit_mask(mask: npt.NDArray[Any], width: int, height: int) -> Mask:
    """``mask`` as bool at the video's size (a tracker may work at a lower resolution)."""
    if mask.ndim != 2:
        raise MaskFormatError(f"a mask must be 2-D, got shape {mask.shape}")
    if mask.shape == (height, width):
        return mask if mask.dtype == np.bool_ else np.asarray(mask > 0)
    m8 = (mask > 0).astype(np.uint8) * 255
    return np.asarray(cv2.resize(m8, (width, height), interpolation=cv2.INTER_LINEAR)) > 127


def _next_mask(masks: Iterator[npt.NDArray[Any]], index: int) -> npt.NDArray[Any]:
    mask = next(masks, None)
    if mask is None:
        raise MaskFormatError(f"masks ran out at frame {index}: one mask per frame is needed")
    return mask


def _as_yuv420p(frame: av.VideoFrame) -> av.VideoFrame:
    if frame.format.name == "yuv420p":
        return frame
    out = frame.reformat(format="yuv420p")
    out.pts, out.time_base, out.duration = frame.pts, frame.time_base, frame.duration
    return out


def _plane_views(
    frame: av.VideoFrame,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Writable numpy views of a yuv420p frame's Y, U, V buffers (rows may be padded)."""
    views = []
    for plane in frame.planes:
        buf = np.frombuffer(memoryview(plane), np.uint8)[: plane.height * plane.line_size]
        views.append(buf.reshape(plane.height, plane.line_size)[:, : plane.width])
    return views[0], views[1], views[2]


def render_video(
    input_path: Path,
    output_path: Path,
    masks: Iterable[npt.NDArray[Any]],
    options: RenderOptions | None = None,
    progress: Progress | None = None,
    info: VideoInfo | None = None,
) -> Rendered:
    """Write ``output_path``: the input with each frame's mask hidden or erased.

    ``masks``: one 2-D mask per frame (bool or 0/255), in order, any resolution (resized
    to the video's). Returns the number of frames written, with the frames to review
    (:class:`Rendered`)."""
    options = options or RenderOptions()
    info = info or probe(input_path, options.limits)
    # Masks are produced in their own thread too (a tracker feeding this loop overlaps
    # with decoding and encoding instead of taking turns with them).
    mask_iter = prefetch(masks, options.prefetch)
    decoded = (_as_yuv420p(f) for f in iter_video_frames(input_path, options.limits, threads=0))
    frames = prefetch(decoded, options.prefetch)
    synthesized: list[int] = []
    try:
        with VideoWriter(
            output_path,
            fps=info.fps,
            time_base=info.time_base,
            display_matrix=info.display_matrix,
            audio_source=input_path if info.has_audio else None,
            settings=options.encode,
            limits=options.limits,
        ) as writer:
            if options.mode is RenderMode.ERASE:
                _erase(input_path, frames, mask_iter, info, options, writer, progress, synthesized)
            else:
                _hide(frames, mask_iter, info, options, writer, progress)
            written = writer.frames_written
        if next(mask_iter, None) is not None:
            raise MaskFormatError(f"more masks than the video's {written} frames")
    finally:
        # Stop the decode and mask threads now, not whenever the generators are collected
        # (a service renders many jobs in one process).
        frames.close()
        mask_iter.close()
    return Rendered(written, _spans(synthesized))


def _hide(
    frames: Iterator[av.VideoFrame],
    masks: Iterator[npt.NDArray[Any]],
    info: VideoInfo,
    options: RenderOptions,
    writer: VideoWriter,
    progress: Progress | None,
) -> None:
    effect = EffectSettings(**{**options.effect.__dict__, "effect": Effect(options.mode)})
    for index, src in enumerate(frames):
        mask = fit_mask(_next_mask(masks, index), info.width, info.height)
        if mask.any():
            # Own a copy of the decoder's buffers (they may still serve as reference
            # pictures), then edit only the mask's box in place: one memcpy, no numpy
            # round trip, and frames without a mask go out untouched.
            src.make_writable()
            # The frame's colour tags (matrix, range) decide the fill's Y'CbCr values.
            encoding = yuv_encoding(src.colorspace, src.color_range, info.height)
            apply_yuv_planes(*_plane_views(src), mask, effect, encoding)
        writer.write(src)
        if progress is not None:
            progress(index + 1, info.frame_count)


def _erase(
    input_path: Path,
    frames: Iterator[av.VideoFrame],
    masks: Iterator[npt.NDArray[Any]],
    info: VideoInfo,
    options: RenderOptions,
    writer: VideoWriter,
    progress: Progress | None,
    synthesized: list[int],
) -> None:
    """Three passes (see ``rendering/wholevideo.py``): masks and camera motion recorded
    (the tracker feeding ``masks`` runs during this one), then the crops other frames'
    holes read stored, then every frame erased and written. Masks and crops wait on disk,
    so memory does not grow with the video's length."""
    from tapmask_processing.rendering.wholevideo import WholeVideoEraser

    w, h = info.width, info.height
    total = max(1, info.frame_count)

    def report(share: float) -> None:
        if progress is not None:
            progress(min(total, int(share * total)), total)

    with tempfile.TemporaryDirectory(prefix="tapmask-erase-") as tmp:
        eraser = WholeVideoEraser(w, h, Path(tmp))
        try:
            sw, sh = eraser.small_size()
            for index, src in enumerate(frames):
                mask = fit_mask(_next_mask(masks, index), w, h)
                grey: npt.NDArray[np.uint8] = src.to_ndarray(  # type: ignore[assignment]
                    width=sw, height=sh, format="gray"
                )
                eraser.analyse(np.ascontiguousarray(grey), mask)
                report(0.5 * (index + 1) / total)
            if options.erase_window is not None or not eraser.rigid():
                # Parallax or no texture: one homography per frame cannot align the scene;
                # the window eraser's dense flow can (or asked for by name).
                _erase_window(
                    _decode(input_path, options),
                    (eraser.mask(i) for i in range(eraser.frame_count)),
                    info,
                    options,
                    writer,
                    progress,
                    synthesized,
                )
                return
            eraser.plan()
            for index, src in enumerate(_decode(input_path, options)):
                if eraser.needs(index):
                    eraser.keep(index, src.to_ndarray(format="rgb24"))  # type: ignore[arg-type]
            report(0.6)
            count = eraser.frame_count
            for index, src in enumerate(_decode(input_path, options)):
                if index < count and eraser.has_hole(index):
                    rgb: npt.NDArray[np.uint8] = src.to_ndarray(format="rgb24")  # type: ignore[assignment]
                    erased, invented = eraser.render(index, rgb)
                    if invented:
                        synthesized.append(index)
                    _copy_back(src, rgb, erased, w, h)
                writer.write(src)
                report(0.6 + 0.4 * (index + 1) / total)
        finally:
            eraser.close()


def _decode(input_path: Path, options: RenderOptions) -> Iterator[av.VideoFrame]:
    return prefetch(
        (_as_yuv420p(f) for f in iter_video_frames(input_path, options.limits, threads=0)),
        options.prefetch,
    )


def _copy_back(
    src: av.VideoFrame,
    rgb: npt.NDArray[np.uint8],
    erased: npt.NDArray[np.uint8],
    w: int,
    h: int,
) -> None:
    """Copy into ``src`` only the pixels the eraser changed, so the rest stays bit-exact.
    Plane by plane (not a packed array) so odd frame sizes work too. Back with the matrix
    and range ``to_ndarray`` read the frame with (its tags), or a tagged BT.709 /
    full-range video would change colour where erased."""
    changed = np.any(erased != rgb, axis=2)
    if not changed.any():
        return
    ch, cw = (h + 1) // 2, (w + 1) // 2  # chroma size, odd sides included
    conv = av.VideoFrame.from_ndarray(erased, format="rgb24").reformat(
        format="yuv420p",
        dst_colorspace=src.colorspace if src.colorspace in _TAGGED_MATRICES else None,
        dst_color_range=src.color_range or None,
    )
    src.make_writable()
    dst_y, dst_u, dst_v = _plane_views(src)
    new_y, new_u, new_v = _plane_views(conv)
    dst_y[changed] = new_y[changed]
    padded = np.zeros((ch * 2, cw * 2), bool)
    padded[:h, :w] = changed
    c_changed = padded.reshape(ch, 2, cw, 2).any(axis=(1, 3))
    dst_u[c_changed] = new_u[c_changed]
    dst_v[c_changed] = new_v[c_changed]


def _erase_window(
    frames: Iterator[av.VideoFrame],
    masks: Iterator[npt.NDArray[Any]],
    info: VideoInfo,
    options: RenderOptions,
    writer: VideoWriter,
    progress: Progress | None,
    synthesized: list[int],
) -> None:
    """The window eraser (``rendering/inpaint.py``): frames held in memory, no reach
    beyond ``options.erase_window`` frames; kept for scenes with parallax."""
    from tapmask_processing.rendering.inpaint import erase_stream

    def on_invented(index: int, _pixels: int) -> None:
        synthesized.append(index)

    held: deque[tuple[av.VideoFrame, npt.NDArray[np.uint8]]] = deque()

    def pairs() -> Iterator[tuple[npt.NDArray[np.uint8], Mask]]:
        for index, src in enumerate(frames):
            rgb: npt.NDArray[np.uint8] = src.to_ndarray(format="rgb24")  # type: ignore[assignment]
            held.append((src, rgb))
            yield rgb, fit_mask(_next_mask(masks, index), info.width, info.height)

    try:
        erased_frames = erase_stream(pairs(), window=options.erase_window, on_invented=on_invented)
        for index, erased in enumerate(erased_frames):
            src, rgb = held.popleft()
            _copy_back(src, rgb, erased, info.width, info.height)
            writer.write(src)
            if progress is not None:
                progress(index + 1, info.frame_count)
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()
