"""From a click to an object mask, with no learned weights.

GrabCut (colour GMMs + graph cut) runs in squares of growing size centred on the
click(s); the click is hard foreground, negative clicks hard background. A square that
is too small cuts the object, which then touches the square's border; the first square
whose result stays clear of its border (inside the frame) is taken as the object.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from tapmask_processing.tracking.tracking import Frame, Mask

Point = tuple[float, float]

# Square sides as fractions of the frame's longer side, small to large.
_SCALES = (0.18, 0.28, 0.42, 0.6)
# Share of the (in-frame) square border the object may touch and still count as enclosed.
_MAX_BORDER_TOUCH = 0.04
_GRABCUT_ITERS = 4


def click_disc_radius(shape: tuple[int, ...]) -> int:
    """Radius of the hard-foreground disc under a click: ~1% of the frame's longer side."""
    return max(2, round(max(shape[:2]) * 0.01))


def component_at(mask: Mask, points: Sequence[Point]) -> Mask:
    """The connected components of ``mask`` that contain any of ``points``."""
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    h, w = mask.shape
    keep = np.zeros(count, dtype=bool)
    for x, y in points:
        label = labels[min(int(y), h - 1), min(int(x), w - 1)]
        if label:
            keep[label] = True
    result: Mask = keep[labels]
    return result


def _border_touch(mask: Mask, x0: int, y0: int, x1: int, y1: int) -> float:
    """Share of the square's border pixels lying inside the frame that are foreground."""
    h, w = mask.shape
    touched = total = 0
    if y0 > 0:
        touched += int(mask[y0, x0:x1].sum())
        total += x1 - x0
    if y1 < h:
        touched += int(mask[y1 - 1, x0:x1].sum())
        total += x1 - x0
    if x0 > 0:
        touched += int(mask[y0:y1, x0].sum())
        total += y1 - y0
    if x1 < w:
        touched += int(mask[y0:y1, x1 - 1].sum())
        total += y1 - y0
    return touched / total if total else 0.0


def _grabcut_in_square(
    bgr: npt.NDArray[np.uint8],
    positives: Sequence[Point],
    negatives: Sequence[Point],
    side: int,
) -> tuple[Mask, float]:
    h, w = bgr.shape[:2]
    cx = float(np.mean([p[0] for p in positives]))
    cy = float(np.mean([p[1] for p in positives]))
    xs = [p[0] for p in positives]
    ys = [p[1] for p in positives]
    half = side / 2
    x0 = max(0, int(min(min(xs), cx - half)))
    y0 = max(0, int(min(min(ys), cy - half)))
    x1 = min(w, int(max(max(xs) + 1, cx + half)))
    y1 = min(h, int(max(max(ys) + 1, cy + half)))
    labels = np.full((h, w), cv2.GC_BGD, dtype=np.uint8)
    labels[y0:y1, x0:x1] = cv2.GC_PR_FGD
    radius = click_disc_radius(bgr.shape)
    for x, y in negatives:
        cv2.circle(labels, (int(x), int(y)), radius, cv2.GC_BGD, -1)
    for x, y in positives:
        cv2.circle(labels, (int(x), int(y)), radius, cv2.GC_FGD, -1)
    # GrabCut only needs a margin of background around the square: crop for speed.
    pad = max(8, side // 2)
    cx0, cy0 = max(0, x0 - pad), max(0, y0 - pad)
    cx1, cy1 = min(w, x1 + pad), min(h, y1 + pad)
    crop_labels = np.ascontiguousarray(labels[cy0:cy1, cx0:cx1])
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    # GrabCut seeds its colour clusters from OpenCV's global RNG: fix it, so that the
    # same click on the same frame always gives the same mask.
    cv2.setRNGSeed(0)
    cv2.grabCut(
        np.ascontiguousarray(bgr[cy0:cy1, cx0:cx1]),
        crop_labels,
        (0, 0, 0, 0),  # unused with GC_INIT_WITH_MASK
        bgd,
        fgd,
        _GRABCUT_ITERS,
        cv2.GC_INIT_WITH_MASK,
    )
    mask = np.zeros((h, w), dtype=bool)
    mask[cy0:cy1, cx0:cx1] = (crop_labels == cv2.GC_FGD) | (crop_labels == cv2.GC_PR_FGD)
    mask = component_at(mask, positives)
    return mask, _border_touch(mask, x0, y0, x1, y1)


def segment_from_clicks(
    rgb: Frame, positives: Sequence[Point], negatives: Sequence[Point] = ()
) -> Mask:
    """Segment the object under ``positives`` in ``rgb``; never returns an empty mask."""
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    longer = max(rgb.shape[:2])
    best: Mask | None = None
    # A result hardly bigger than the hard discs under the clicks means GrabCut found no
    # colour boundary in that square: try a larger one.
    radius = click_disc_radius(rgb.shape)
    trivial = 4 * len(positives) * np.pi * radius**2
    for scale in _SCALES:
        mask, touch = _grabcut_in_square(bgr, positives, negatives, round(longer * scale))
        if mask.sum() > trivial:
            best = mask
            if touch <= _MAX_BORDER_TOUCH:
                break
    if best is None:
        # GrabCut found nothing: fall back to the discs under the clicks.
        best = np.zeros(rgb.shape[:2], dtype=bool)
        radius = click_disc_radius(rgb.shape) * 3
        canvas = best.astype(np.uint8)
        for x, y in positives:
            cv2.circle(canvas, (int(x), int(y)), radius, 1, -1)
        best = canvas.astype(bool)
    return best
