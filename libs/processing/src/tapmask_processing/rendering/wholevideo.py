"""The magic eraser with the whole video's reach: each hole filled from any frame that shows it.

The window eraser (`inpaint.erase_stream`) only sees 12 frames ahead and 11 behind, so an
object that stays put for longer (the dog in 01_dog.mp4's first 13 frames) gets an
invented background although later frames show it plainly. This eraser works in three
passes over the video, with memory flat in its length (what grows is on disk):

1. `analyse`, once per frame in order (the render decodes each frame once for it, at the
   flow grid's small size): the frame's mask, grown by `MASK_DILATION_PX` (the *hole*)
   and by `SOURCE_MARGIN_PX` more (where the frame may not be *copied from*: fur, motion
   blur and contact shadow past a tracker's mask), stored zlib-packed on disk; and the
   camera motion, a homography registering the frame to a key frame (RANSAC on corners
   tracked outside the hole). Registering to a key frame instead of the previous frame
   keeps a tripod shot drift-free over hundreds of frames; a new key is taken when the
   overlap gets small.
2. `plan`: every frame's hole, on a grid of `PLAN_CELL` px cells in the first frame's
   coordinates (the "mosaic"), is matched with the nearest frame before and after it that
   shows that place clear of its object (32 px), and the nearest that shows it unmasked
   (10 px), among every `SOURCE_STEP`-th frame (one forward and one backward scan:
   O(frames x cells), whatever the object does). Each source frame is told the rectangle
   of it that will be read (`needs`), and `keep` stores only that crop (raw, on disk).
3. `render`, per frame in order: each hole pixel takes its colour from its cell's planned
   sources, then the hole's, where the aligned point is unmasked (at full resolution,
   colour resampled cubically); each source's exposure is matched to the frame (median offset on
   a ring around the hole), and what remains of the ring's difference is spread over the
   hole (a membrane, by push-pull interpolation: the gradient-domain blend) with outliers
   left out so a missed bit of fur on the ring is not smeared in; the previous output,
   warped, is blended in where it agrees (no flicker). Only what no frame ever shows is
   synthesized spatially (OpenCV Telea) and reported (`on_invented`).

Scenes whose background is not one plane (parallax, see `rigid`) keep the window eraser:
a single homography per frame cannot align them.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from numpy.typing import NDArray

from tapmask_processing.rendering.flow import (
    MAX_CORNERS,
    MIN_TRACKS,
    RANSAC_ITERATIONS,
    RANSAC_THRESHOLD,
    FlowGrid,
    _to_full,
    sample,
)
from tapmask_processing.rendering.inpaint import (
    BLEND_PREVIOUS,
    COLOUR_INTERPOLATION,
    FLOW_HOLE_MARGIN,
    FLOW_MAX_SIDE,
    MASK_DILATION_PX,
    spatial_fill,
)

__all__ = ["SOURCE_MARGIN_PX", "WholeVideoEraser"]

FloatArray = NDArray[np.float32]
BoolArray = NDArray[np.bool_]
ByteArray = NDArray[np.uint8]
Homography = NDArray[np.float64]

SOURCE_MARGIN_PX = 6
"""Growth of the hole beyond `MASK_DILATION_PX` where a frame may never be copied from
(10 px from the mask in all): a tracker's mask misses fur, motion blur and the contact
shadow by a few pixels, and copying them from a source frame would paint a ghost."""

CLEAR_MARGIN_PX = 28
"""Growth of the hole beyond `MASK_DILATION_PX` outside which a source is *clear* of its
object (32 px from the mask): sources clear of it are preferred to nearer ones that only
pass `SOURCE_MARGIN_PX`. On 01_dog.mp4 with keyframe-interpolated masks the nearer frames
left a leg's white streak in the fill at frame 150; a leg can stray further than a few
pixels from a mask made between keyframes."""

PLAN_CELL = 8
"""Full-resolution pixels per cell of the planning grid."""

PLAN_MAX_CELLS = 4_000_000
"""The mosaic's cells are widened beyond this (a very long pan or zoom)."""

SOURCE_STEP = 4
"""Only every 4th frame serves as a source. Each source is a crop stored, read back and
aligned: with every frame a source, a slow pan (the object uncovering a thin band of
background per frame) gave each frame's hole 110 sources and the render took twice the
window eraser's time."""

CROP_CACHE = 48
"""Source crops held in memory (each a few hundred kB at 720p: at most ~20 MB)."""

CROP_MARGIN = 24
"""Pixels kept around each source crop beyond the mapped hole (ring, cubic support)."""

RING_PX = 4
"""Width of the ring around the hole whose differences drive the exposure match."""

RING_GAP_PX = 4
"""Distance of the ring from the hole (8 px from the mask with the hole's growth)."""

RING_OUTLIER = 16.0
"""RGB levels off the ring's median beyond which a ring pixel is taken as foreign
(object left outside the mask, another object) and does not shape the membrane."""

AGREE_LEVEL = 24.0
"""Mean absolute RGB difference under which the previous output and the new fill agree."""

KEY_MIN_INLIER_SHARE = 0.5
"""A frame registers to the key frame when this share of its tracked corners fit."""

KEY_MAX_SHIFT = 0.25
"""New key frame once a frame's corners are this share of the frame off the key's."""

RIGID_TRACKS = 0.55
"""Share of a frame's tracked corners one homography must explain for the frame to count
as one background plane (the synthetic two-plane parallax clip: about half each)."""

RIGID_SHARE = 0.7
"""Share of masked frames that must register by one homography for this eraser to
run; otherwise the scene has parallax or no texture and the window eraser runs."""


@dataclass(slots=True)
class _Blobs:
    """Byte blobs appended to one temporary file, read back by index."""

    file: BinaryIO
    index: list[tuple[int, int]] = field(default_factory=list)
    end: int = 0

    def put(self, data: bytes) -> int:
        self.file.seek(self.end)
        self.file.write(data)
        self.index.append((self.end, len(data)))
        self.end += len(data)
        return len(self.index) - 1

    def get(self, key: int) -> bytes:
        offset, size = self.index[key]
        self.file.seek(offset)
        return self.file.read(size)


def _pack(mask: BoolArray) -> bytes:
    return zlib.compress(np.packbits(mask).tobytes(), 1)


def _unpack(data: bytes, shape: tuple[int, int]) -> BoolArray:
    bits = np.frombuffer(zlib.decompress(data), dtype=np.uint8)
    return np.unpackbits(bits, count=shape[0] * shape[1]).reshape(shape).astype(bool)


def _disc(radius: int) -> ByteArray:
    return np.asarray(
        cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)), np.uint8
    )


def _inv(h: Homography) -> Homography:
    return np.asarray(np.linalg.inv(h), dtype=np.float64)


def _apply(h: Homography, xs: FloatArray, ys: FloatArray) -> tuple[FloatArray, FloatArray]:
    z = h[2, 0] * xs + h[2, 1] * ys + h[2, 2]
    nx = (h[0, 0] * xs + h[0, 1] * ys + h[0, 2]) / z
    ny = (h[1, 0] * xs + h[1, 1] * ys + h[1, 2]) / z
    return nx.astype(np.float32), ny.astype(np.float32)


@dataclass(slots=True)
class _FrameInfo:
    to_ref: Homography
    """Full-resolution homography from this frame to the first frame's coordinates."""
    rigid: bool
    hole_key: int = -1
    """Index of the packed masks in the blob file: hole, not to copy from, as given, clear
    of the object (-1: empty mask)."""
    box: tuple[int, int, int, int] | None = None
    """The hole's bounding box (x0, y0, x1, y1), exclusive ends."""
    sources: NDArray[np.int32] = field(default_factory=lambda: np.zeros((0, 2), np.int32))
    """Planned (source frame, tier) pairs in the order tried: sources clear of their
    object (tier 0) nearest first, then the others (tier 1) nearest first."""
    need: tuple[int, int, int, int] | None = None
    """The rectangle of this frame other frames' holes read (x0, y0, x1, y1)."""
    crop_key: int = -1
    plan_key: int = -1
    """Index of the per-cell plan blob: cell ids and each cell's four candidates."""


class WholeVideoEraser:
    """The three passes over one video (see the module docstring).

    Holds per frame a few numbers (homography, boxes, source list: ~0.2 kB), the last
    frame's small grey picture, one output frame and a few source crops; masks and crops
    live in one temporary file under `workdir`."""

    def __init__(self, width: int, height: int, workdir: Path) -> None:
        self.width = width
        self.height = height
        self.grid = FlowGrid.for_size(width, height, FLOW_MAX_SIDE)
        self._blobs = _Blobs((workdir / "erase-store.bin").open("w+b"))
        self._frames: list[_FrameInfo] = []
        self._ring_kernel = _disc(RING_PX)
        self._gap_kernel = _disc(RING_GAP_PX)
        # Registration state.
        self._key_grey: ByteArray | None = None
        self._key_hole: BoolArray | None = None
        self._key_to_ref: Homography = np.eye(3)
        self._last: tuple[ByteArray, BoolArray, Homography] | None = None
        # Render state.
        self._previous: ByteArray | None = None
        self._previous_index = -1
        self._crop_cache: dict[int, tuple[ByteArray, BoolArray, BoolArray]] = {}
        self.planned = False
        self._origin: tuple[float, float, float, int, int] = (0.0, 0.0, 1.0, 1, 1)

    def close(self) -> None:
        self._blobs.file.close()

    # -- pass 1 -------------------------------------------------------------------------

    def small_size(self) -> tuple[int, int]:
        """(width, height) of the grey frames `analyse` wants."""
        return self.grid.small_width, self.grid.small_height

    def analyse(self, small_grey: ByteArray, mask: BoolArray) -> None:
        """Record frame `len(frames)`: its grey picture at `small_size` and its mask."""
        if mask.shape != (self.height, self.width):
            raise ValueError(f"mask is {mask.shape}, the video {self.height}x{self.width}")
        info = _FrameInfo(to_ref=np.eye(3), rigid=True)
        small_hole = np.zeros(small_grey.shape, dtype=bool)
        if mask.any():
            hole, blocked, clear = self._grown(mask)
            info.hole_key = self._blobs.put(_pack(hole))
            self._blobs.put(_pack(blocked))
            self._blobs.put(_pack(mask))
            self._blobs.put(_pack(~clear))
            ys, xs = np.nonzero(hole)
            info.box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
            small_hole = self.grid.to_small_mask(hole, FLOW_HOLE_MARGIN)
        info.to_ref, info.rigid = self._register(small_grey, small_hole)
        self._frames.append(info)

    def _grown(self, mask: BoolArray) -> tuple[BoolArray, BoolArray, BoolArray]:
        """The hole, where not to copy from, and where not clear of the object: the mask
        grown by 4, 10 and 32 px. One distance transform on the mask's box: 15 ms for a
        280x200 px object at 720p where three full-frame dilations by discs took 77 ms
        (measured together, on the shared development machine under load)."""
        reach = MASK_DILATION_PX + CLEAR_MARGIN_PX + 2
        ys, xs = np.nonzero(mask)
        h, w = mask.shape
        y0, y1 = max(0, int(ys.min()) - reach), min(h, int(ys.max()) + reach + 1)
        x0, x1 = max(0, int(xs.min()) - reach), min(w, int(xs.max()) + reach + 1)
        dist = cv2.distanceTransform(
            np.where(mask[y0:y1, x0:x1], 0, 255).astype(np.uint8),
            cv2.DIST_L2,
            cv2.DIST_MASK_PRECISE,
        )
        out = []
        for radius in (
            MASK_DILATION_PX,
            MASK_DILATION_PX + SOURCE_MARGIN_PX,
            MASK_DILATION_PX + CLEAR_MARGIN_PX,
        ):
            grown = np.zeros((h, w), dtype=bool)
            # +0.5: a superset of the dilation by a disc of that radius (OpenCV's
            # elliptic kernel, which the window eraser and the benchmarks use).
            grown[y0:y1, x0:x1] = dist <= radius + 0.5
            out.append(grown)
        return out[0], out[1], out[2]

    def _register(self, grey: ByteArray, hole: BoolArray) -> tuple[Homography, bool]:
        if self._key_grey is None or self._key_hole is None:
            self._key_grey, self._key_hole = grey, hole
            self._last = (grey, hole, np.eye(3))
            return np.eye(3), True
        fitted = self._fit(grey, hole, self._key_grey)
        if fitted is not None and self._shift(fitted[0]) <= KEY_MAX_SHIFT:
            to_ref = self._key_to_ref @ fitted[0]
        else:
            # Too far from the key (or lost): the previous frame becomes the key.
            assert self._last is not None
            last_grey, last_hole, last_to_ref = self._last
            self._key_grey, self._key_hole, self._key_to_ref = last_grey, last_hole, last_to_ref
            fitted = self._fit(grey, hole, last_grey)
            to_ref = last_to_ref @ (np.eye(3) if fitted is None else fitted[0])
        rigid = fitted is not None and fitted[1]
        self._last = (grey, hole, to_ref)
        return to_ref, rigid

    def _fit(
        self, grey: ByteArray, hole: BoolArray, key: ByteArray
    ) -> tuple[Homography, bool] | None:
        """Full-resolution homography from this frame to `key`, and whether it explains
        `RIGID_TRACKS` of the tracked corners; None below `KEY_MIN_INLIER_SHARE`.

        One RANSAC fit (not `flow.planar_layers`' up to three): a static camera with a
        person moving elsewhere is still one background plane; planar_layers called the
        hands moving cups in 02_cups.mp4 a second layer and sent it to the window eraser."""
        allowed = np.where(hole, 0, 255).astype(np.uint8)
        corners = cv2.goodFeaturesToTrack(grey, MAX_CORNERS, 0.01, 5, mask=allowed)
        if corners is None or len(corners) < MIN_TRACKS:
            return None
        start = np.asarray(corners, dtype=np.float32).reshape(-1, 1, 2)
        moved, status, _ = cv2.calcOpticalFlowPyrLK(
            grey, key, start, np.zeros_like(start), winSize=(21, 21), maxLevel=3
        )
        ok = np.asarray(status).ravel() == 1
        if int(ok.sum()) < MIN_TRACKS:
            return None
        fitted, inliers = cv2.findHomography(
            start[ok],
            np.asarray(moved, np.float32)[ok],
            cv2.RANSAC,
            RANSAC_THRESHOLD,
            None,
            RANSAC_ITERATIONS,
            0.99,
        )
        if fitted is None:
            return None
        # Lost tracks count against the fit: they are often where a model fails.
        share = float(np.asarray(inliers).sum()) / len(start)
        if share < KEY_MIN_INLIER_SHARE:
            return None
        return _to_full(np.asarray(fitted, np.float64), self.grid), share >= RIGID_TRACKS

    def _shift(self, h: Homography) -> float:
        w, hgt = self.width, self.height
        xs = np.array([0, w - 1, 0, w - 1], np.float32)
        ys = np.array([0, 0, hgt - 1, hgt - 1], np.float32)
        nx, ny = _apply(h, xs, ys)
        return float(max(np.abs(nx - xs).max() / w, np.abs(ny - ys).max() / hgt))

    @property
    def frame_count(self) -> int:
        return len(self._frames)

    def rigid(self) -> bool:
        """Whether the masked frames' background moves as one plane (see `RIGID_SHARE`)."""
        masked = [f.rigid for f in self._frames if f.hole_key >= 0]
        return not masked or float(np.mean(masked)) >= RIGID_SHARE

    def mask(self, index: int) -> BoolArray:
        """Frame `index`'s mask as given to `analyse`."""
        info = self._frames[index]
        if info.hole_key < 0:
            return np.zeros((self.height, self.width), dtype=bool)
        return _unpack(self._blobs.get(info.hole_key + 2), (self.height, self.width))

    def _hole(self, index: int) -> BoolArray:
        key = self._frames[index].hole_key
        return _unpack(self._blobs.get(key), (self.height, self.width))

    def _blocked(self, index: int, tier: int = 1) -> BoolArray:
        """Where frame `index` may not be copied from at this tier (0: clear of its
        object by `CLEAR_MARGIN_PX`; 1: by `SOURCE_MARGIN_PX`)."""
        key = self._frames[index].hole_key
        if tier == 0:
            return ~_unpack(self._blobs.get(key + 3), (self.height, self.width))
        return _unpack(self._blobs.get(key + 1), (self.height, self.width))

    # -- plan ---------------------------------------------------------------------------

    def plan(self) -> None:
        """Match every hole with its nearest showing frames; decide which crops to keep."""
        frames = self._frames
        if not any(f.hole_key >= 0 for f in frames):
            self.planned = True
            return
        w, h = self.width, self.height
        corners_x = np.array([0, w, 0, w], np.float32)
        corners_y = np.array([0, 0, h, h], np.float32)
        xs, ys = [], []
        for f in frames:
            cx, cy = _apply(f.to_ref, corners_x, corners_y)
            xs.append(cx)
            ys.append(cy)
        all_x, all_y = np.concatenate(xs), np.concatenate(ys)
        x0, y0 = float(all_x.min()), float(all_y.min())
        cell = float(PLAN_CELL)
        while (float(all_x.max()) - x0) * (float(all_y.max()) - y0) / cell**2 > PLAN_MAX_CELLS:
            cell *= 2
        gw = int((float(all_x.max()) - x0) / cell) + 1
        gh = int((float(all_y.max()) - y0) / cell) + 1
        origin = (x0, y0, cell, gw, gh)
        self._origin = origin
        # Forward: the latest earlier frame showing each cell; backward: the next one.
        # Each hole's earlier frames wait on disk for the backward scan (in memory they
        # would grow with the video: ~15 kB a frame for a 300x200 px object).
        before: dict[int, int] = {}
        last = np.full((2, gw * gh), -1, dtype=np.int32)
        for t in range(len(frames)):
            cells, visible = self._scan(t, origin)
            if frames[t].hole_key >= 0 and cells.size:
                before[t] = self._blobs.put(zlib.compress(last[:, cells].tobytes(), 1))
            if t % SOURCE_STEP == 0:
                for tier in (0, 1):
                    last[tier, visible[tier]] = t
        nxt = np.full((2, gw * gh), -1, dtype=np.int32)
        # Per source frame the union of the rectangles read: a list per (frame, source)
        # pair grew ~4 kB a frame.
        needs: dict[int, list[int]] = {}
        for t in range(len(frames) - 1, -1, -1):
            cells, visible = self._scan(t, origin)
            if t in before:
                raw = zlib.decompress(self._blobs.get(before.pop(t)))
                prev = np.frombuffer(raw, np.int32).reshape(2, -1)
                after = nxt[:, cells]
                self._choose(t, prev, after, needs)
                self._frames[t].plan_key = self._blobs.put(_per_cell(t, cells, prev, after))
            if t % SOURCE_STEP == 0:
                for tier in (0, 1):
                    nxt[tier, visible[tier]] = t
        for s, rect in needs.items():
            frames[s].need = (rect[0], rect[1], rect[2], rect[3])
        self.planned = True

    def _scan(
        self, t: int, origin: tuple[float, float, float, int, int]
    ) -> tuple[NDArray[np.intp], tuple[NDArray[np.intp], NDArray[np.intp]]]:
        """Mosaic cells in frame t's hole, and the cells frame t shows clear of its object
        (tier 0) and unmasked (tier 1)."""
        x0, y0, cell, gw, gh = origin
        info = self._frames[t]
        w, h = self.width, self.height
        cx, cy = _apply(
            info.to_ref, np.array([0, w, 0, w], np.float32), np.array([0, 0, h, h], np.float32)
        )
        i0 = max(0, int((float(cx.min()) - x0) / cell))
        i1 = min(gw, int((float(cx.max()) - x0) / cell) + 1)
        j0 = max(0, int((float(cy.min()) - y0) / cell))
        j1 = min(gh, int((float(cy.max()) - y0) / cell) + 1)
        jj, ii = np.mgrid[j0:j1, i0:i1]
        ids = (jj * gw + ii).ravel()
        rx = (x0 + (ii.ravel() + 0.5) * cell).astype(np.float32)
        ry = (y0 + (jj.ravel() + 0.5) * cell).astype(np.float32)
        fx, fy = _apply(_inv(info.to_ref), rx, ry)
        inside = (fx >= 0) & (fy >= 0) & (fx <= w - 1) & (fy <= h - 1)
        if info.hole_key < 0:
            return ids[:0], (ids[inside], ids[inside])
        xi = np.clip(fx, 0, w - 1).astype(np.intp)
        yi = np.clip(fy, 0, h - 1).astype(np.intp)
        strict = self._blocked(t, 0)[yi, xi]
        loose = self._blocked(t, 1)[yi, xi]
        # A cell belongs to the hole when any of it may: the loose margin (6 px) reaches
        # past half a cell's diagonal (5.7 px), so no edge of the hole goes unplanned.
        return ids[inside & loose], (ids[inside & ~strict], ids[inside & ~loose])

    def _choose(
        self,
        t: int,
        prev: NDArray[np.int32],
        after: NDArray[np.int32],
        needs: dict[int, list[int]],
    ) -> None:
        """Frame t's sources from its hole cells' nearest showing frames, per tier
        (rows of `prev` and `after`; -1: none). Both the nearest earlier and later frame
        stay candidates: a point may be masked at full resolution where its cell's centre
        was not. Tier 1 comes after all of tier 0: for what no frame shows clear of its
        object, and for the points between cells that tier 0 misses."""
        chosen: list[tuple[int, int]] = []
        for tier in (0, 1):
            used = set(prev[tier].tolist()) | set(after[tier].tolist())
            used.discard(-1)
            chosen += [(s, tier) for s in sorted(used, key=lambda s: (abs(s - t), s))]
        info = self._frames[t]
        info.sources = np.array(chosen, dtype=np.int32).reshape(-1, 2)
        assert info.box is not None
        bx0, by0, bx1, by1 = info.box
        reach = RING_PX + RING_GAP_PX + 1
        bx0, by0, bx1, by1 = bx0 - reach, by0 - reach, bx1 + reach, by1 + reach
        for s in set(info.sources[:, 0].tolist()):
            m = _inv(self._frames[s].to_ref) @ info.to_ref
            px, py = _apply(
                m,
                np.array([bx0, bx1, bx0, bx1], np.float32),
                np.array([by0, by0, by1, by1], np.float32),
            )
            rect = (
                max(0, int(px.min()) - CROP_MARGIN),
                max(0, int(py.min()) - CROP_MARGIN),
                min(self.width, int(px.max()) + CROP_MARGIN + 1),
                min(self.height, int(py.max()) + CROP_MARGIN + 1),
            )
            if rect[0] < rect[2] and rect[1] < rect[3]:
                have = needs.setdefault(s, list(rect))
                have[0], have[1] = min(have[0], rect[0]), min(have[1], rect[1])
                have[2], have[3] = max(have[2], rect[2]), max(have[3], rect[3])

    # -- pass 2 -------------------------------------------------------------------------

    def needs(self, index: int) -> bool:
        """Whether `keep` wants frame `index`'s picture."""
        return self._frames[index].need is not None

    def keep(self, index: int, rgb: ByteArray) -> None:
        """Store the part of frame `index` that other frames' holes read."""
        info = self._frames[index]
        if info.need is None:
            return
        x0, y0, x1, y1 = info.need
        info.crop_key = self._blobs.put(np.ascontiguousarray(rgb[y0:y1, x0:x1]).tobytes())
        if info.hole_key >= 0:
            # Where not to copy from, cut to the crop now: one small read per use later.
            self._blobs.put(_pack(self._blocked(index, 0)[y0:y1, x0:x1]))
            self._blobs.put(_pack(self._blocked(index, 1)[y0:y1, x0:x1]))

    def _crop(self, s: int) -> tuple[ByteArray, BoolArray, BoolArray] | None:
        """Source frame s's stored crop and where it may not be copied from."""
        cached = self._crop_cache.get(s)
        if cached is not None:
            return cached
        info = self._frames[s]
        if info.crop_key < 0 or info.need is None:
            return None
        x0, y0, x1, y1 = info.need
        rgb = np.frombuffer(self._blobs.get(info.crop_key), np.uint8).reshape(y1 - y0, x1 - x0, 3)
        if info.hole_key >= 0:
            strict = _unpack(self._blobs.get(info.crop_key + 1), (y1 - y0, x1 - x0))
            loose = _unpack(self._blobs.get(info.crop_key + 2), (y1 - y0, x1 - x0))
        else:
            strict = loose = np.zeros((y1 - y0, x1 - x0), dtype=bool)
        got = (rgb, strict, loose)
        if len(self._crop_cache) >= CROP_CACHE:
            self._crop_cache.pop(next(iter(self._crop_cache)))
        self._crop_cache[s] = got
        return got

    # -- pass 3 -------------------------------------------------------------------------

    def _candidates(self, info: _FrameInfo, px: FloatArray, py: FloatArray) -> NDArray[np.int32]:
        """(4, N): each point's cell's planned frames (-1 where none)."""
        if info.plan_key < 0:
            return np.full((4, px.size), -1, np.int32)
        plan = np.frombuffer(zlib.decompress(self._blobs.get(info.plan_key)), np.int32)
        plan = plan.reshape(5, -1)
        x0, y0, cell, gw, gh = self._origin
        rx, ry = _apply(info.to_ref, px, py)
        i = np.clip(((rx - x0) / cell).astype(np.intp), 0, gw - 1)
        j = np.clip(((ry - y0) / cell).astype(np.intp), 0, gh - 1)
        ids = j * gw + i
        at = np.clip(np.searchsorted(plan[0], ids), 0, plan.shape[1] - 1)
        found = plan[0][at] == ids
        return np.where(found[None, :], plan[1:, at], -1).astype(np.int32)

    def _take(
        self,
        info: _FrameInfo,
        s: int,
        tier: int,
        points: NDArray[np.intp],
        px: FloatArray,
        py: FloatArray,
        colour: FloatArray,
        source: NDArray[np.int32],
    ) -> NDArray[np.intp]:
        """Colour `points` from frame s where it shows them (unmasked at `tier`); returns
        the points it does not show."""
        crop = self._crop(s)
        src = self._frames[s]
        if crop is None or src.need is None or points.size == 0:
            return points
        pixels, blocked = crop[0], crop[1 + tier]
        cx0, cy0, cx1, cy1 = src.need
        m = _inv(src.to_ref) @ info.to_ref
        qx, qy = _apply(m, px[points], py[points])
        qx -= cx0
        qy -= cy0
        # Inside the crop, off its edge by the cubic sampler's reach (where the edge is
        # the frame's, the sampler repeats the edge pixel, as the window eraser does).
        lo_x, lo_y = (2 if cx0 > 0 else 0), (2 if cy0 > 0 else 0)
        hi_x = cx1 - cx0 - (3 if cx1 < self.width else 1)
        hi_y = cy1 - cy0 - (3 if cy1 < self.height else 1)
        ok = (qx >= lo_x) & (qy >= lo_y) & (qx <= hi_x) & (qy <= hi_y)
        xi = np.clip(qx + 0.5, 0, cx1 - cx0 - 1).astype(np.intp)
        yi = np.clip(qy + 0.5, 0, cy1 - cy0 - 1).astype(np.intp)
        ok &= ~blocked[yi, xi]
        if not ok.any():
            return points
        got = points[ok]
        colour[got] = sample(pixels, qx[ok], qy[ok], COLOUR_INTERPOLATION)
        source[got] = s
        return points[~ok]

    def has_hole(self, index: int) -> bool:
        return self._frames[index].hole_key >= 0

    def render(self, index: int, rgb: ByteArray) -> tuple[ByteArray, int]:
        """Frame `index` (RGB, as decoded) erased, and how many pixels were invented."""
        if not self.planned:
            raise RuntimeError("plan() must run before render()")
        info = self._frames[index]
        if info.hole_key < 0 or info.box is None:
            self._previous, self._previous_index = None, -1
            return rgb, 0
        w, h = self.width, self.height
        hole = self._hole(index)
        bx0, by0, bx1, by1 = info.box
        # Work on the hole's box grown by the ring.
        reach = RING_PX + RING_GAP_PX + 1
        x0, y0 = max(0, bx0 - reach), max(0, by0 - reach)
        x1, y1 = min(w, bx1 + reach), min(h, by1 + reach)
        sub_hole = hole[y0:y1, x0:x1]
        # The ring starts RING_GAP_PX out: a tracker's mask misses fur and blur by a few
        # pixels, and the ring must show background only.
        near = np.asarray(cv2.dilate(sub_hole.astype(np.uint8), self._gap_kernel), bool)
        ring = np.asarray(cv2.dilate(near.astype(np.uint8), self._ring_kernel), bool) & ~near
        want = sub_hole | ring
        ys, xs = np.nonzero(want)
        px = (xs + x0).astype(np.float32)
        py = (ys + y0).astype(np.float32)
        colour = np.zeros((ys.size, 3), np.float32)
        source = np.full(ys.size, -1, np.int32)
        # Each pixel first tries its own cell's planned frames (nearest clear one, the
        # other clear one, then the unmasked ones), grouped by frame; what those miss
        # tries every frame planned for the hole, nearest first. Trying the frame's whole
        # list for every pixel cost 110 tries a frame on a slow pan (a thin new band of
        # background per source frame).
        candidates = self._candidates(info, px, py)
        for k in range(candidates.shape[0]):
            tier = 0 if k < 2 else 1
            wanted = candidates[k][source < 0]
            todo = np.flatnonzero(source < 0)
            for s in np.unique(wanted[wanted >= 0]).tolist():
                group = todo[wanted == s]
                self._take(info, int(s), tier, group, px, py, colour, source)
        left = np.flatnonzero(source < 0)
        for s, tier in info.sources.tolist():
            if left.size == 0:
                break
            left = self._take(info, s, tier, left, px, py, colour, source)
        frame = rgb[y0:y1, x0:x1].astype(np.float32)
        in_hole = sub_hole[ys, xs]
        on_ring = ~in_hole & (source >= 0)
        here = frame[ys, xs]
        # Exposure: each source's median offset on the ring (else the overall one).
        diff = here - colour
        overall = np.median(diff[on_ring], axis=0) if on_ring.sum() >= 16 else np.zeros(3)
        for s in np.unique(source[source >= 0]):
            of_s = source == s
            ring_s = of_s & on_ring
            offset = np.median(diff[ring_s], axis=0) if ring_s.sum() >= 16 else overall
            colour[of_s] += offset.astype(np.float32)
        # Membrane: the rest of the ring's difference spread over the hole, robustly.
        residual = here - colour
        good = on_ring & (np.abs(residual).max(axis=1) < RING_OUTLIER)
        if good.sum() >= 8:
            values = np.zeros((*sub_hole.shape, 3), np.float32)
            weights = np.zeros(sub_hole.shape, np.float32)
            values[ys[good], xs[good]] = residual[good]
            weights[ys[good], xs[good]] = 1.0
            spread = _push_pull(values, weights)
            filled = in_hole & (source >= 0)
            colour[filled] += spread[ys[filled], xs[filled]]
        # Temporal stability: the previous output, where it agrees.
        filled = in_hole & (source >= 0)
        carried = np.zeros(ys.size, dtype=bool)
        if self._previous is not None and self._previous_index == index - 1:
            prev_info = self._frames[index - 1]
            m = _inv(prev_info.to_ref) @ info.to_ref
            qx, qy = _apply(m, px, py)
            inb = (qx >= 0) & (qy >= 0) & (qx <= w - 1) & (qy <= h - 1)
            prev_colour = sample(self._previous, qx, qy, COLOUR_INTERPOLATION)
            agree = filled & inb & (np.abs(colour - prev_colour).mean(axis=1) < AGREE_LEVEL)
            colour[agree] = (
                BLEND_PREVIOUS * prev_colour[agree] + (1.0 - BLEND_PREVIOUS) * colour[agree]
            )
            # What no frame shows: the previous guess, carried along (not re-guessed).
            carried = in_hole & (source < 0) & inb
            colour[carried] = prev_colour[carried]
        out = rgb.copy()
        sub = out[y0:y1, x0:x1]
        put = filled | carried
        sub[ys[put], xs[put]] = np.clip(colour[put] + 0.5, 0, 255).astype(np.uint8)
        invented = int((in_hole & (source < 0)).sum())
        gap = in_hole & ~put
        if gap.any():
            unseen = np.zeros(hole.shape, dtype=bool)
            unseen[ys[gap] + y0, xs[gap] + x0] = True
            spatial_fill(out, unseen)
        self._previous, self._previous_index = out, index
        return out, invented


def _per_cell(
    t: int, cells: NDArray[np.intp], prev: NDArray[np.int32], after: NDArray[np.int32]
) -> bytes:
    """Cell ids and, per cell, its candidates: per tier the nearer of the earlier and the
    later showing frame, then the other one (-1: none), as one compressed blob."""
    rows = [cells.astype(np.int32)]
    for tier in (0, 1):
        p, a = prev[tier], after[tier]
        dp = np.where(p >= 0, t - p, np.iinfo(np.int32).max)
        da = np.where(a >= 0, a - t, np.iinfo(np.int32).max)
        near = np.where(dp <= da, p, a)
        far = np.where(dp <= da, a, p)
        rows += [near.astype(np.int32), far.astype(np.int32)]
    return zlib.compress(np.stack(rows).tobytes(), 1)


def _push_pull(values: FloatArray, weights: FloatArray) -> FloatArray:
    """Smooth interpolation of sparse `values` (weight 1 where known) over the whole image.

    Pull: weighted averages down an image pyramid until every cell has data; push: each
    level filled from the coarser one where it has little weight of its own (Gortler et
    al., 1996). A membrane-like interpolant at the cost of a few pyramid levels."""
    levels: list[tuple[FloatArray, FloatArray]] = []
    v = values * weights[..., None]
    wt = weights.copy()
    while min(wt.shape) > 2 and len(levels) < 12:
        levels.append((v, wt))
        v = np.asarray(
            cv2.resize(
                v, (max(1, v.shape[1] // 2), max(1, v.shape[0] // 2)), interpolation=cv2.INTER_AREA
            ),
            np.float32,
        )
        wt = np.asarray(
            cv2.resize(
                wt,
                (max(1, wt.shape[1] // 2), max(1, wt.shape[0] // 2)),
                interpolation=cv2.INTER_AREA,
            ),
            np.float32,
        )
        if v.ndim == 2:
            v = v[..., None]
    est = v / np.maximum(wt, 1e-6)[..., None]
    if float(wt.max()) <= 0:
        est[:] = 0
    else:
        fill = wt <= 1e-6
        if fill.any():
            est[fill] = v.reshape(-1, 3).sum(0) / max(float(wt.sum()), 1e-6)
    for lv, lw in reversed(levels):
        up = np.asarray(
            cv2.resize(est, (lw.shape[1], lw.shape[0]), interpolation=cv2.INTER_LINEAR), np.float32
        )
        if up.ndim == 2:
            up = up[..., None]
        alpha = np.clip(lw * 4.0, 0.0, 1.0)[..., None]
        own = lv / np.maximum(lw, 1e-6)[..., None]
        est = alpha * own + (1.0 - alpha) * up
    return np.asarray(est, np.float32)
