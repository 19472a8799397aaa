"""Mask and box arithmetic the learned tracker's steps share (pure numpy/OpenCV)."""

from __future__ import annotations

import cv2
import numpy as np

from tapmask_processing.tracking.morphology import dilate
from tapmask_processing.tracking.sam_prompting import Box, Point, bbox, pad_box
from tapmask_processing.tracking.tracking import Mask


def deepest(mask: Mask) -> Point | None:
    """The mask pixel farthest from its edge (a safe point to prompt with)."""
    if not mask.any():
        return None
    dist = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return float(x), float(y)


def lookalike_points(looks: Mask, mask: Mask, most: int = 3) -> list[Point]:
    """Points on things near ``mask`` that look like it but are not it (the other child
    beside the clicked one): negative prompts, so SAM keeps them out."""
    box = bbox(mask)
    if box is None:
        return []
    h, w = mask.shape
    x0, y0, x1, y1 = (int(v) for v in pad_box(box, 0.3, w, h))
    apart = np.zeros_like(mask)
    apart[y0:y1, x0:x1] = looks[y0:y1, x0:x1]
    apart &= ~dilate(mask, max(2, round(0.02 * float(np.hypot(w, h)))))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(apart.astype(np.uint8))
    minimum = 0.05 * float(mask.sum())
    found = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= minimum]
    found.sort(key=lambda i: -int(stats[i, cv2.CC_STAT_AREA]))
    points = []
    for i in found[:most]:
        point = deepest(labels == i)
        if point is not None:
            points.append(point)
    return points


def centre(box: Box) -> Point:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def shift(mask: Mask, to: Point, frm: Point) -> Mask:
    """``mask`` translated so that ``frm`` lands on ``to``."""
    dx, dy = to[0] - frm[0], to[1] - frm[1]
    h, w = mask.shape
    moved = cv2.warpAffine(
        mask.astype(np.uint8), np.array([[1, 0, dx], [0, 1, dy]], np.float32), (w, h),
        flags=cv2.INTER_NEAREST, borderValue=0,
    )
    out: Mask = moved > 0
    return out


def iou(a: Mask, b: Mask) -> float:
    union = float((a | b).sum())
    return float((a & b).sum()) / union if union else 0.0


def box_iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def box_mask(box: Box, shape: tuple[int, int]) -> Mask:
    """The ellipse filling ``box`` (what a box covers of a roundish thing)."""
    out = np.zeros(shape, np.uint8)
    x0, y0, x1, y1 = box
    middle = (round((x0 + x1) / 2), round((y0 + y1) / 2))
    axes = (max(1, round((x1 - x0) / 2)), max(1, round((y1 - y0) / 2)))
    cv2.ellipse(out, middle, axes, 0.0, 0.0, 360.0, 1, -1)
    mask: Mask = out > 0
    return mask


def follow_box(mask: Mask, frm: Box, to: Box) -> Mask:
    """``mask`` moved and scaled as its box ``frm`` became ``to`` (NanoTrack's box now).

    Why: between keyframes, flow erodes what it cannot follow: on 01_dog the white,
    textureless head melts away over the 13 frames after keyframe 131 (uncovered at
    frame 144), and the sprinting dog's carried mask trails a streak behind it at frames
    61-64, its chest uncovered. The keyframe's shape riding on NanoTrack's box (only while
    NanoTrack is confident) covers both; the output takes it only within a thin band
    around the carried mask (``LearnedSettings.rigid_reach``)."""
    fw, fh = max(frm[2] - frm[0], 1.0), max(frm[3] - frm[1], 1.0)
    sx, sy = (to[2] - to[0]) / fw, (to[3] - to[1]) / fh
    scale = float(np.sqrt(max(sx * sy, 1e-6)))
    (cx, cy), (tx, ty) = centre(frm), centre(to)
    matrix = np.array([[scale, 0, tx - scale * cx], [0, scale, ty - scale * cy]], np.float32)
    h, w = mask.shape
    moved = cv2.warpAffine(
        mask.astype(np.uint8), matrix, (w, h), flags=cv2.INTER_NEAREST, borderValue=0
    )
    out: Mask = moved > 0
    return out


def plausible_size(area: float, last: float, clicked: float, at_edge: bool) -> bool:
    """Whether a candidate of ``area`` pixels can be an object last seen at ``last``
    pixels and clicked at ``clicked``: a quarter to four times that, or down to a tenth
    when the candidate is at the frame's edge (coming back in: on 01_dog the dog's head
    is all that shows at frame 105, 880 px against 2643 when clicked)."""
    low = min(last, clicked) * (0.1 if at_edge else 0.25)
    return low <= area <= 4.0 * max(last, clicked)


def touches_edge(mask: Mask, margin: int = 2) -> bool:
    b = bbox(mask)
    if b is None:
        return False
    h, w = mask.shape
    return b[0] <= margin or b[1] <= margin or b[2] >= w - margin or b[3] >= h - margin
