"""Whole moving objects from a click: what changed against the camera, cut by GrabCut.

A click's colour segment is often one part of an object (a person's trousers, a dog's
harness). Objects people click usually move, and everything on them moves together:
comparing the frame with later frames warped back by the camera's motion (a homography
fit to the flow) lights up the outline of every moving thing. Filled and closed, the
outline around the click bounds the object; GrabCut inside that bound, with the colour
segment as sure foreground, then finds all of the object whatever its colours.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from tapmask_tracker.core.motion import FlowEngine, Gray, fit_camera
from tapmask_tracker.core.tracking import Frame, Mask

# Colour change (max over channels, 0-255, after a 5x5 blur) that counts as motion.
_CHANGED = 22
# A moving region larger than this share of the frame is the camera fit failing.
_MAX_SHARE = 0.35
_GRABCUT_ITERS = 3
# Most a moving shape may exceed the clicked colour segment by (a person around the
# clicked trousers is ~3x).
_MAX_GROWTH = 6


def _disc(radius: int) -> npt.NDArray[np.uint8]:
    size = 2 * radius + 1
    return np.asarray(cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)), np.uint8)


def changed_against_camera(
    rgb: Frame, gray: Gray, later: Sequence[tuple[Frame, Gray]], flow: FlowEngine
) -> npt.NDArray[np.float32]:
    """Per-pixel colour change of ``rgb`` against each later frame warped back by the
    camera's motion, the median over ``later``: high where something moved away from
    where it is on this frame. (A maximum would also light up the places the object
    moves *to*: ghosts, each seen in only one later frame.)"""
    h, w = gray.shape
    changes = []
    base = rgb.astype(np.int16)
    for frame, frame_gray in later:
        homography = fit_camera(flow.calc(gray, frame_gray))
        if homography is None:
            continue
        back = cv2.warpPerspective(
            frame, np.linalg.inv(homography), (w, h), borderMode=cv2.BORDER_REPLICATE
        )
        diff = np.abs(base - back.astype(np.int16)).max(axis=2).astype(np.float32)
        changes.append(cv2.GaussianBlur(diff, (5, 5), 0))
    if not changes:
        return np.zeros((h, w), np.float32)
    change: npt.NDArray[np.float32] = np.median(np.stack(changes), axis=0).astype(np.float32)
    return change


def _fill_holes(mask: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """``mask`` with every region not reachable from the frame border filled."""
    padded = np.pad(mask, 1)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 1)
    filled: npt.NDArray[np.uint8] = (padded | (flood == 0)).astype(np.uint8)[1:-1, 1:-1]
    return filled


def moving_shapes(change: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    """Filled shapes (1) of the moving things in a ``change`` map."""
    side = max(change.shape)
    moving = (change > _CHANGED).astype(np.uint8)
    # Outlines of a slow mover are a few pixels apart; closing joins them to a shape.
    closed = np.asarray(
        cv2.morphologyEx(moving, cv2.MORPH_CLOSE, _disc(max(2, round(side * 0.015)))), np.uint8
    )
    return _fill_holes(closed)


class PastFrames:
    """The last few working-size frames and the camera motion between them, to tell
    what moves on the current frame by comparing it with earlier ones.

    The minimum change over the earlier frames is kept: the object's current outline
    differs from all of them, while the places it has just left (its trail) still look
    like it on the most recent ones."""

    def __init__(self, steps: Sequence[int] = (2, 4, 8)) -> None:
        self._steps = tuple(steps)
        # (frame, homography taking this frame's points to the previous frame's).
        self._past: deque[tuple[Frame, npt.NDArray[np.float64] | None]] = deque(
            maxlen=max(self._steps) + 1
        )

    def push(self, rgb: Frame, to_previous: npt.NDArray[np.float64] | None) -> None:
        """Add the current frame and its camera motion to the previous one (``None``:
        unknown, which breaks the chain: older frames are no longer comparable)."""
        if to_previous is None:
            self._past.clear()
        self._past.append((rgb, to_previous))

    def change(self, box: tuple[int, int, int, int]) -> npt.NDArray[np.float32] | None:
        """Least colour change of the newest frame against the earlier frames of
        ``steps`` (warped by the camera) inside ``box`` (x0, y0, x1, y1), or ``None``
        while too few are known."""
        if len(self._past) <= min(self._steps):
            return None
        x0, y0, x1, y1 = box
        w, h = x1 - x0, y1 - y0
        base = self._past[-1][0][y0:y1, x0:x1].astype(np.int16)
        # Box pixel (u, v) is frame pixel (u + x0, v + y0).
        offset = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
        changes = []
        chain = np.eye(3)
        for k in range(1, len(self._past)):
            step = self._past[-k][1]
            assert step is not None  # a None clears everything before it
            chain = step @ chain
            if k in self._steps:
                back = cv2.warpPerspective(
                    self._past[-1 - k][0],
                    chain @ offset,
                    (w, h),
                    flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                    borderMode=cv2.BORDER_REPLICATE,
                )
                diff = np.abs(base - back.astype(np.int16)).max(axis=2).astype(np.float32)
                changes.append(cv2.GaussianBlur(diff, (5, 5), 0))
        if len(changes) < 2:
            return None
        result: npt.NDArray[np.float32] = np.min(np.stack(changes), axis=0).astype(np.float32)
        return result


def moving_object(
    rgb: Frame,
    gray: Gray,
    later: Sequence[tuple[Frame, Gray]],
    seed: Mask,
    flow: FlowEngine,
) -> Mask | None:
    """The whole moving object containing ``seed``, or ``None`` when nothing moves
    there (a still object: the colour segment is all there is to go on)."""
    if not later or not seed.any():
        return None
    h, w = gray.shape
    side = max(h, w)
    change = changed_against_camera(rgb, gray, later, flow)
    count, labels = cv2.connectedComponents(moving_shapes(change))
    overlap = np.bincount(labels[seed], minlength=count)
    overlap[0] = 0
    if overlap.max() < 0.3 * seed.sum():
        return None
    region = labels == int(np.argmax(overlap))
    # Far bigger than the clicked part: several things moving together (a dog at its
    # owner's feet) or the camera fit failing; colour alone is safer then.
    if region.sum() > min(_MAX_SHARE * h * w, _MAX_GROWTH * seed.sum()):
        return None
    # GrabCut decides, inside the moving region (grown a little: outlines blur), which
    # pixels are the object; the colour segment under the click is certain.
    near = cv2.dilate(region.astype(np.uint8), _disc(max(2, round(side * 0.02)))) > 0
    labels_gc = np.full((h, w), cv2.GC_BGD, np.uint8)
    labels_gc[near] = cv2.GC_PR_BGD
    labels_gc[region] = cv2.GC_PR_FGD
    core = cv2.erode(seed.astype(np.uint8), _disc(max(1, round(side * 0.004)))) > 0
    labels_gc[core if core.any() else seed] = cv2.GC_FGD
    x, y, bw, bh = cv2.boundingRect(near.astype(np.uint8))
    pad = max(8, round(side * 0.03))
    x0, y0, x1, y1 = max(0, x - pad), max(0, y - pad), min(w, x + bw + pad), min(h, y + bh + pad)
    crop = np.ascontiguousarray(labels_gc[y0:y1, x0:x1])
    bgr = np.ascontiguousarray(rgb[y0:y1, x0:x1, ::-1])
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(bgr, crop, (0, 0, 0, 0), bgd, fgd, _GRABCUT_ITERS, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        # Degenerate colour statistics (a flat crop): keep the moving region itself.
        fallback: Mask = region | seed
        return fallback
    found = np.zeros((h, w), bool)
    found[y0:y1, x0:x1] = (crop == cv2.GC_FGD) | (crop == cv2.GC_PR_FGD)
    count, labels = cv2.connectedComponents(found.astype(np.uint8))
    overlap = np.bincount(labels[seed], minlength=count)
    overlap[0] = 0
    result: Mask = (labels == int(np.argmax(overlap))) | seed
    # GrabCut sometimes keeps only the clicked colours (its background model learnt the
    # other parts' colours from the surroundings): then the moving shape is the answer.
    if result.sum() < 0.5 * region.sum():
        result = region | seed
    return result
