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

from tapmask_processing.tracking.motion import FlowEngine, Gray, fit_camera
from tapmask_processing.tracking.tracking import Frame, Mask

# Colour change (max over channels, 0-255, after a 5x5 blur) that counts as motion.
_CHANGED = 22
# A moving region larger than this share of the frame is the camera fit failing.
_MAX_SHARE = 0.35
_GRABCUT_ITERS = 3
# Frames ahead of the clicked one that ``moving_object`` is given (by the tracker).
_STEPS = (2, 4, 8)
# A colour segment less than this share of which moves with the click is a mix of
# things moving apart.
_MIXED = 0.6
# Most a moving shape may exceed the clicked colour segment by (a person around the
# clicked trousers is ~3x).
_MAX_GROWTH = 6


def _disc(radius: int) -> npt.NDArray[np.uint8]:
    size = 2 * radius + 1
    return np.asarray(cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)), np.uint8)


def changed_against_camera(
    rgb: Frame,
    gray: Gray,
    later: Sequence[tuple[Frame, Gray]],
    flow: FlowEngine,
    seed: Mask | None = None,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int32]]:
    """Per-pixel colour change of ``rgb`` against each later frame warped back by the
    camera's motion, the median over ``later``: high where something moved away from
    where it is on this frame. (A maximum would also light up the places the object
    moves *to*: ghosts, each seen in only one later frame.)

    Also, per pixel, in how many of ``later`` it moved like ``seed`` (relative to the
    camera): what tells two movers that touch apart (a dog at its owner's feet)."""
    h, w = gray.shape
    changes = []
    votes = np.zeros((h, w), np.int32)
    base = rgb.astype(np.int16)
    grid: npt.NDArray[np.float32] | None = None
    for (frame, frame_gray), step in zip(later, _steps_of(later), strict=True):
        forward = flow.calc(gray, frame_gray)
        homography = fit_camera(forward)
        if homography is None:
            continue
        back = cv2.warpPerspective(
            frame, np.linalg.inv(homography), (w, h), borderMode=cv2.BORDER_REPLICATE
        )
        diff = np.abs(base - back.astype(np.int16)).max(axis=2).astype(np.float32)
        changes.append(cv2.GaussianBlur(diff, (5, 5), 0))
        if seed is not None and seed.any():
            if grid is None:
                ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
                grid = np.stack([xs, ys], axis=2)
            camera = cv2.perspectiveTransform(grid.reshape(1, -1, 2), homography).reshape(
                grid.shape
            )
            own = forward - (camera - grid)
            seed_own = np.median(own[seed], axis=0)
            # Flow errors grow with the distance moved; a seed's own parts (limbs) move
            # somewhat differently from it too.
            tolerance = max(1.0 * step, 0.6 * float(np.hypot(*seed_own)))
            votes += ((own - seed_own) ** 2).sum(axis=2) < tolerance**2
    if not changes:
        return np.zeros((h, w), np.float32), votes
    change: npt.NDArray[np.float32] = np.median(np.stack(changes), axis=0).astype(np.float32)
    return change, votes


def _steps_of(later: Sequence[tuple[Frame, Gray]]) -> list[int]:
    """Frames ahead of each of ``later``, assumed the ``_STEPS`` the caller chose."""
    return list(_STEPS[: len(later)]) + [_STEPS[-1]] * max(0, len(later) - len(_STEPS))


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
        base = np.ascontiguousarray(self._past[-1][0][y0:y1, x0:x1])
        # Box pixel (u, v) is frame pixel (u + x0, v + y0).
        offset = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
        least: npt.NDArray[np.uint8] | None = None
        found = 0
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
                # uint8 OpenCV arithmetic: this runs on every frame, on the object's box.
                r, g, b = cv2.split(cv2.absdiff(base, back))
                diff = np.asarray(cv2.GaussianBlur(cv2.max(cv2.max(r, g), b), (5, 5), 0), np.uint8)
                least = diff if least is None else np.asarray(cv2.min(least, diff), np.uint8)
                found += 1
        if least is None or found < 2:
            return None
        result: npt.NDArray[np.float32] = least.astype(np.float32)
        return result


def moving_object(
    rgb: Frame,
    gray: Gray,
    later: Sequence[tuple[Frame, Gray]],
    seed: Mask,
    flow: FlowEngine,
    clicked: Mask | None = None,
) -> Mask | None:
    """The whole moving object containing ``seed``, or ``None`` when nothing moves
    there (a still object: the colour segment is all there is to go on).

    With ``clicked`` (the discs under the clicks), motion is judged against what moves
    under the clicks, and a colour segment that spans things moving apart (two children
    in the same blue) is first cut down to the part that moves with the click."""
    if not later or not seed.any():
        return None
    h, w = gray.shape
    side = max(h, w)
    reference = seed & clicked if clicked is not None and (seed & clicked).any() else seed
    change, votes = changed_against_camera(rgb, gray, later, flow, reference)
    with_click = votes * 2 >= len(later)
    cut: Mask | None = None
    if reference is not seed and (seed & with_click).sum() < _MIXED * seed.sum():
        count, labels = cv2.connectedComponents((seed & with_click).astype(np.uint8))
        under = np.unique(labels[reference & with_click])
        under = under[under > 0]
        if len(under):
            cut = np.isin(labels, under) | reference
            seed = cut
    # Moving, and like the clicked part: what else moves is another thing.
    coherent = moving_shapes(change) & with_click.astype(np.uint8)
    shapes = cv2.morphologyEx(coherent, cv2.MORPH_OPEN, _disc(max(1, round(side * 0.006))))
    count, labels = cv2.connectedComponents(shapes)
    # Every such shape touching the clicked part belongs with it: the shirt moving above
    # clicked trousers that hardly move.
    near_seed = cv2.dilate(seed.astype(np.uint8), _disc(max(2, round(side * 0.015)))) > 0
    touching = np.unique(labels[near_seed])
    touching = touching[touching > 0]
    if len(touching) == 0:
        return cut
    parts = (np.isin(labels, touching) | seed).astype(np.uint8)
    joined = cv2.morphologyEx(parts, cv2.MORPH_CLOSE, _disc(max(2, round(side * 0.01))))
    region = _fill_holes(np.asarray(joined, np.uint8)) > 0
    if region.sum() < 1.2 * seed.sum():
        return cut
    # Far bigger than the clicked part: several things moving together (a dog at its
    # owner's feet) or the camera fit failing; colour alone is safer then.
    if region.sum() > min(_MAX_SHARE * h * w, _MAX_GROWTH * seed.sum()):
        return cut
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
    cv2.setRNGSeed(0)  # deterministic colour clusters (see click_segment)
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
