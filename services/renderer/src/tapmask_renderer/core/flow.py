"""Background motion between neighbouring frames, for the eraser, at reduced resolution.

Two models, cheapest first:
- global: a homography fitted (RANSAC) to corners tracked with pyramidal Lucas-Kanade
  outside the hole. When it explains most of the background, the camera motion is taken
  as global and the homography is the motion everywhere, also behind the object: exact,
  sub-pixel, and free of dense-flow noise.
- dense: otherwise DIS optical flow; inside the hole the measured flow follows the
  object, not the background, so there it is replaced by the homography's prediction
  plus what the homography misses around the hole (parallax), diffused inwards.
Both work on small grey frames and answer in full-resolution pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float32]
BoolArray = NDArray[np.bool_]
ByteArray = NDArray[np.uint8]

MAX_CORNERS = 400
MIN_TRACKS = 24
"""Fewer tracked corners than this (flat scenes): no global model, dense flow only."""
SAMPLE_STEP = 8
"""Spacing, in small-grid pixels, of the flow samples a homography is fitted to."""
MIN_SAMPLES = 12
RANSAC_THRESHOLD = 1.0
"""Small-grid pixels; DIS is accurate to a few tenths on textured background."""
RESIDUAL_NOISE = 1.0
"""Small-grid pixels of flow left unexplained by the homography that count as noise."""
GLOBAL_INLIERS = 0.8
"""Share of tracked background corners the homography must explain for the camera motion to
count as global (then the hole's flow is the homography's, exactly)."""
RESIDUAL_BAND = 6
"""Small-grid pixels around the hole whose measured flow is also replaced when the motion
is not global."""

# remap() refuses maps with a side of SHRT_MAX or more: point lists are folded into rows.
_SAMPLE_ROW = 1024


@dataclass(frozen=True, slots=True)
class FlowGrid:
    """Maps full-resolution coordinates to the reduced grid the flow lives on."""

    width: int
    height: int
    small_width: int
    small_height: int

    @classmethod
    def for_size(cls, width: int, height: int, max_side: int) -> FlowGrid:
        scale = min(1.0, max_side / max(width, height))
        return cls(
            width,
            height,
            max(8, round(width * scale)),
            max(8, round(height * scale)),
        )

    @property
    def sx(self) -> float:
        return self.small_width / self.width

    @property
    def sy(self) -> float:
        return self.small_height / self.height

    def to_small_grey(self, rgb: ByteArray) -> ByteArray:
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if (self.small_width, self.small_height) == (self.width, self.height):
            return np.asarray(grey, dtype=np.uint8)
        small = cv2.resize(
            grey, (self.small_width, self.small_height), interpolation=cv2.INTER_AREA
        )
        return np.asarray(small, dtype=np.uint8)

    def to_small_mask(self, mask: BoolArray, margin: int) -> BoolArray:
        """The mask on the small grid, grown by `margin` small pixels (conservative)."""
        small = cv2.resize(
            mask.astype(np.uint8),
            (self.small_width, self.small_height),
            interpolation=cv2.INTER_AREA,
        )
        # INTER_AREA averages; any coverage counts as hole so thin objects survive scaling.
        hole = np.asarray(small > 0, dtype=np.uint8)
        if margin > 0 and hole.any():
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1,) * 2)
            hole = np.asarray(cv2.dilate(hole, kernel), dtype=np.uint8)
        return hole.astype(bool)


class BackgroundFlow:
    """DIS optical flow between neighbouring small frames, with the hole completed."""

    def __init__(self, grid: FlowGrid) -> None:
        self._grid = grid
        # MEDIUM costs ~3x ULTRAFAST for little gain on the smooth background motion we need.
        self._dis = cv2.DISOpticalFlow.create(cv2.DISOpticalFlow_PRESET_FAST)

    def between(self, src: ByteArray, dst: ByteArray, src_hole: BoolArray) -> Motion:
        """Background motion from `src` to `dst` (small grey frames)."""
        homography, share = global_motion(src, dst, src_hole)
        if homography is not None and share >= GLOBAL_INLIERS:
            return Motion(self._grid, _to_full(homography, self._grid), None)
        # An output buffer (not None) only because the OpenCV stubs require one.
        out = np.zeros((*src.shape, 2), dtype=np.float32)
        flow = np.asarray(self._dis.calc(src, dst, out), dtype=np.float32)
        if src_hole.any():
            flow = complete_flow(flow, src_hole, homography)
        flow[..., 0] /= self._grid.sx
        flow[..., 1] /= self._grid.sy
        return Motion(self._grid, None, flow)


@dataclass(frozen=True, slots=True)
class Motion:
    """Where background points of one frame are in a neighbouring frame."""

    grid: FlowGrid
    homography: NDArray[np.float64] | None
    """Full-resolution homography, when the motion is global."""
    field: FloatArray | None
    """Otherwise a dense flow on the small grid, in full-resolution pixels."""

    def move(self, xs: FloatArray, ys: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Full-resolution points (xs, ys) carried into the neighbouring frame."""
        if self.homography is not None:
            h = self.homography
            z = h[2, 0] * xs + h[2, 1] * ys + h[2, 2]
            nx = (h[0, 0] * xs + h[0, 1] * ys + h[0, 2]) / z
            ny = (h[1, 0] * xs + h[1, 1] * ys + h[1, 2]) / z
            return nx.astype(np.float32), ny.astype(np.float32)
        assert self.field is not None
        u = (xs + 0.5) * self.grid.sx - 0.5
        v = (ys + 0.5) * self.grid.sy - 0.5
        d = sample(self.field, u.astype(np.float32), v.astype(np.float32), linear=True)
        return xs + d[:, 0], ys + d[:, 1]


def global_motion(
    src: ByteArray, dst: ByteArray, src_hole: BoolArray
) -> tuple[NDArray[np.float64] | None, float]:
    """Homography (small grid) from `src` to `dst` and the share of corners it explains."""
    allowed = np.where(src_hole, 0, 255).astype(np.uint8)
    corners = cv2.goodFeaturesToTrack(src, MAX_CORNERS, 0.01, 5, mask=allowed)
    if corners is None or len(corners) < MIN_TRACKS:
        return None, 0.0
    start = np.asarray(corners, dtype=np.float32).reshape(-1, 1, 2)
    end, status, _ = cv2.calcOpticalFlowPyrLK(
        src, dst, start, np.zeros_like(start), winSize=(21, 21), maxLevel=3
    )
    ok = np.asarray(status).ravel() == 1
    if int(ok.sum()) < MIN_TRACKS:
        return None, 0.0
    homography, inliers = cv2.findHomography(
        start[ok], np.asarray(end)[ok], cv2.RANSAC, RANSAC_THRESHOLD
    )
    if homography is None:
        return None, 0.0
    # Lost tracks count against the model: they are often where it fails.
    return np.asarray(homography, dtype=np.float64), float(np.sum(inliers)) / len(start)


def _to_full(homography: NDArray[np.float64], grid: FlowGrid) -> NDArray[np.float64]:
    """The same motion in full-resolution pixel coordinates."""
    scale = np.array(
        [[grid.sx, 0.0, 0.5 * grid.sx - 0.5], [0.0, grid.sy, 0.5 * grid.sy - 0.5], [0, 0, 1]],
        dtype=np.float64,
    )
    return np.asarray(np.linalg.inv(scale) @ homography @ scale, dtype=np.float64)


def complete_flow(
    flow: FloatArray, hole: BoolArray, homography: NDArray[np.float64] | None = None
) -> FloatArray:
    """Replace the flow inside `hole` by the background motion predicted from around it.

    A homography (given, or fitted with RANSAC to the flow outside the hole) predicts the
    hole's flow without DIS noise. What it does not explain (parallax, a second plane) is
    diffused in from a band around the hole; residuals under `RESIDUAL_NOISE` are taken
    as flow noise and not diffused.
    """
    if hole.all():
        # Nothing to infer from: assume a still background.
        return np.zeros_like(flow)
    h, w = hole.shape
    ys, xs = np.mgrid[0:h:SAMPLE_STEP, 0:w:SAMPLE_STEP]
    keep = ~hole[ys, xs]
    src = np.stack([xs[keep], ys[keep]], axis=1).astype(np.float32)
    predicted: FloatArray | None = None
    if homography is None and src.shape[0] >= MIN_SAMPLES:
        dst = src + flow[ys[keep], xs[keep]]
        fitted, _ = cv2.findHomography(src, dst, cv2.RANSAC, RANSAC_THRESHOLD)
        homography = None if fitted is None else np.asarray(fitted, dtype=np.float64)
    if homography is not None:
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        grid = np.stack([gx, gy], axis=-1).reshape(-1, 1, 2)
        moved = cv2.perspectiveTransform(grid, homography).reshape(h, w, 2)
        predicted = np.asarray(moved, dtype=np.float32) - np.stack([gx, gy], axis=-1)
    # Diffuse what the homography misses from a band a little away from the hole,
    # since DIS smears the object's own motion past its edge.
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * RESIDUAL_BAND + 1,) * 2)
    region = np.asarray(cv2.dilate(hole.astype(np.uint8), kernel), dtype=np.uint8)
    residual = flow.copy() if predicted is None else flow - predicted
    small = np.hypot(residual[..., 0], residual[..., 1]) < RESIDUAL_NOISE
    residual[small] = 0.0
    out = np.empty_like(flow)
    for c in range(2):
        # Telea on float32 fills from the border inwards, weighting nearer samples more.
        out[..., c] = cv2.inpaint(
            np.ascontiguousarray(residual[..., c]), region, 5, cv2.INPAINT_TELEA
        )
    if predicted is not None:
        out += predicted
    result = flow.copy()
    inside = region.astype(bool)
    result[inside] = out[inside]
    return result


def sample(
    image: NDArray[np.uint8] | NDArray[np.float32], xs: FloatArray, ys: FloatArray, linear: bool
) -> FloatArray:
    """Values of `image` at points (xs, ys) in its own pixel coordinates, as float32 (N, C)."""
    n = xs.shape[0]
    channels = 1 if image.ndim == 2 else image.shape[2]
    if n == 0:
        return np.zeros((0, channels), dtype=np.float32)
    rows = -(-n // _SAMPLE_ROW)
    pad = rows * _SAMPLE_ROW - n
    mx = np.pad(xs.astype(np.float32), (0, pad)).reshape(rows, _SAMPLE_ROW)
    my = np.pad(ys.astype(np.float32), (0, pad)).reshape(rows, _SAMPLE_ROW)
    interp = cv2.INTER_LINEAR if linear else cv2.INTER_NEAREST
    got = cv2.remap(image, mx, my, interp, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(got, dtype=np.float32).reshape(rows * _SAMPLE_ROW, channels)[:n]
