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

DIS_MIN_SIDE = 32
"""OpenCV's DIS (5.0) refuses frames with a side under 12 pixels and crashes on some
frames with a side under 32 (e.g. 24x200): smaller frames get no dense flow."""
MAX_CORNERS = 400
MIN_TRACKS = 24
"""Fewer tracked corners than this (flat scenes): no global model, dense flow only."""
SAMPLE_STEP = 8
"""Spacing, in small-grid pixels, of the flow samples a homography is fitted to."""
MIN_SAMPLES = 12
RANSAC_THRESHOLD = 0.25
"""Small-grid pixels. Lucas-Kanade corner tracks are accurate to about a tenth of a pixel;
at 1 px one homography shears across two planes moving 2 px apart and fits neither."""
DENSE_RANSAC_THRESHOLD = 1.0
"""Small-grid pixels, for the noisier dense flow samples."""
RANSAC_ITERATIONS = 300
"""Caps RANSAC's cost (its default of 2000 took ~20 ms per pair on scenes it cannot fit);
a plane holding a third of the remaining tracks is still found with 99% confidence."""
RESIDUAL_NOISE = 1.0
"""Small-grid pixels of flow left unexplained by the homography that count as noise."""
MAX_LAYERS = 3
LAYER_SHARE = 0.1
"""Smallest share of tracks a further planar layer must explain to count."""
LAYERED_INLIERS = 0.6
"""Share of tracks the layers together must explain, else the background is not rigid
planes and dense flow is used."""
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
            max(1, round(width * scale)),
            max(1, round(height * scale)),
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
        layers = planar_layers(src, dst, src_hole)
        if layers is not None:
            homographies, labels = layers
            full = tuple(_to_full(h, self._grid) for h in homographies)
            return Motion(self._grid, full, labels, None)
        if min(src.shape) < DIS_MIN_SIDE:
            # Too small for dense flow: a still background.
            return Motion(self._grid, (np.eye(3),), None, None)
        # An output buffer (not None) only because the OpenCV stubs require one.
        out = np.zeros((*src.shape, 2), dtype=np.float32)
        flow = np.asarray(self._dis.calc(src, dst, out), dtype=np.float32)
        if src_hole.any():
            flow = complete_flow(flow, src_hole)
        flow[..., 0] /= self._grid.sx
        flow[..., 1] /= self._grid.sy
        return Motion(self._grid, (), None, flow)


@dataclass(frozen=True, slots=True)
class Motion:
    """Where background points of one frame are in a neighbouring frame."""

    grid: FlowGrid
    homographies: tuple[NDArray[np.float64], ...]
    """Full-resolution homographies of the background's planar layers (one: global)."""
    labels: NDArray[np.int8] | None
    """With several layers: which layer each small-grid pixel belongs to."""
    field: FloatArray | None
    """Without layers: a dense flow on the small grid, in full-resolution pixels."""

    def inverse(self) -> Motion | None:
        """The motion back, when it is one global homography; None otherwise."""
        if self.field is not None or self.labels is not None or len(self.homographies) != 1:
            return None
        back = np.asarray(np.linalg.inv(self.homographies[0]), dtype=np.float64)
        return Motion(self.grid, (back,), None, None)

    def move(self, xs: FloatArray, ys: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Full-resolution points (xs, ys) carried into the neighbouring frame."""
        if self.field is None and self.labels is None:
            return _apply(self.homographies[0], xs, ys)
        u = (xs + 0.5) * self.grid.sx - 0.5
        v = (ys + 0.5) * self.grid.sy - 0.5
        if self.field is not None:
            d = sample(self.field, u.astype(np.float32), v.astype(np.float32))
            return xs + d[:, 0], ys + d[:, 1]
        assert self.labels is not None
        h, w = self.labels.shape
        ui = np.clip(np.rint(u), 0, w - 1).astype(np.intp)
        vi = np.clip(np.rint(v), 0, h - 1).astype(np.intp)
        layer = self.labels[vi, ui]
        nx, ny = xs.copy(), ys.copy()
        for k, homography in enumerate(self.homographies):
            on = layer == k
            nx[on], ny[on] = _apply(homography, xs[on], ys[on])
        return nx, ny


def _apply(h: NDArray[np.float64], xs: FloatArray, ys: FloatArray) -> tuple[FloatArray, FloatArray]:
    # Python floats keep the arithmetic in float32 (numpy scalars would promote to float64).
    a, b, c, d, e, f, g, k, m = (float(v) for v in h.ravel())
    if g == 0.0 and k == 0.0:
        nx = (a / m) * xs + (b / m) * ys + c / m
        ny = (d / m) * xs + (e / m) * ys + f / m
    else:
        z = g * xs + k * ys + m
        nx = (a * xs + b * ys + c) / z
        ny = (d * xs + e * ys + f) / z
    return np.asarray(nx, dtype=np.float32), np.asarray(ny, dtype=np.float32)


def planar_layers(
    src: ByteArray, dst: ByteArray, src_hole: BoolArray
) -> tuple[list[NDArray[np.float64]], NDArray[np.int8] | None] | None:
    """The background as up to `MAX_LAYERS` planes, each moving by its own homography.

    Corners outside the hole are tracked (pyramidal Lucas-Kanade, sub-pixel) and
    homographies fitted one after another by RANSAC to the tracks the previous ones
    leave unexplained. One layer explaining `GLOBAL_INLIERS` of the tracks is a global
    camera motion (labels None). Otherwise each small-grid pixel takes the layer of its
    nearest explained track, which is how the hole, where nothing can be tracked, gets
    its layers. None when the layers explain too little (non-rigid background).
    """
    allowed = np.where(src_hole, 0, 255).astype(np.uint8)
    corners = cv2.goodFeaturesToTrack(src, MAX_CORNERS, 0.01, 5, mask=allowed)
    if corners is None or len(corners) < MIN_TRACKS:
        return None
    start = np.asarray(corners, dtype=np.float32).reshape(-1, 1, 2)
    moved, status, _ = cv2.calcOpticalFlowPyrLK(
        src, dst, start, np.zeros_like(start), winSize=(21, 21), maxLevel=3
    )
    end = np.asarray(moved, dtype=np.float32)
    # Lost tracks stay in the count: they are often where a model fails.
    total = len(start)
    left = np.flatnonzero(np.asarray(status).ravel() == 1)
    layer_of = np.full(total, -1, dtype=np.int8)
    homographies: list[NDArray[np.float64]] = []
    while len(homographies) < MAX_LAYERS and len(left) >= MIN_TRACKS:
        fitted, inliers = cv2.findHomography(
            start[left], end[left], cv2.RANSAC, RANSAC_THRESHOLD, None, RANSAC_ITERATIONS, 0.99
        )
        if fitted is None:
            break
        fits = np.asarray(inliers).ravel() == 1
        if int(fits.sum()) < max(MIN_TRACKS, LAYER_SHARE * total):
            break
        layer_of[left[fits]] = len(homographies)
        homographies.append(np.asarray(fitted, dtype=np.float64))
        left = left[~fits]
    explained = float(np.mean(layer_of >= 0))
    if not homographies or explained < LAYERED_INLIERS:
        return None
    if float(np.mean(layer_of == 0)) >= GLOBAL_INLIERS or len(homographies) == 1:
        return homographies[:1], None
    # Nearest explained track, via a distance transform labelling each seed pixel.
    h, w = src_hole.shape
    seeds = np.full((h, w), 255, dtype=np.uint8)
    pts = np.rint(start[layer_of >= 0, 0]).astype(np.intp)
    xs, ys = np.clip(pts[:, 0], 0, w - 1), np.clip(pts[:, 1], 0, h - 1)
    seeds[ys, xs] = 0
    _, nearest = cv2.distanceTransformWithLabels(
        seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    nearest = np.asarray(nearest)
    lookup = np.zeros(int(nearest.max()) + 1, dtype=np.int8)
    lookup[nearest[ys, xs]] = layer_of[layer_of >= 0]
    return homographies, lookup[nearest]


def _to_full(homography: NDArray[np.float64], grid: FlowGrid) -> NDArray[np.float64]:
    """The same motion in full-resolution pixel coordinates."""
    scale = np.array(
        [[grid.sx, 0.0, 0.5 * grid.sx - 0.5], [0.0, grid.sy, 0.5 * grid.sy - 0.5], [0, 0, 1]],
        dtype=np.float64,
    )
    return np.asarray(np.linalg.inv(scale) @ homography @ scale, dtype=np.float64)


def complete_flow(flow: FloatArray, hole: BoolArray) -> FloatArray:
    """Replace the flow inside `hole` by the background motion predicted from around it.

    A homography fitted with RANSAC to the flow outside the hole predicts the
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
    homography: NDArray[np.float64] | None = None
    if src.shape[0] >= MIN_SAMPLES:
        dst = src + flow[ys[keep], xs[keep]]
        fitted, _ = cv2.findHomography(
            src, dst, cv2.RANSAC, DENSE_RANSAC_THRESHOLD, None, RANSAC_ITERATIONS, 0.99
        )
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
    image: NDArray[np.uint8] | NDArray[np.float32],
    xs: FloatArray,
    ys: FloatArray,
    interpolation: int = cv2.INTER_LINEAR,
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
    got = cv2.remap(image, mx, my, interpolation, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(got, dtype=np.float32).reshape(rows * _SAMPLE_ROW, channels)[:n]
