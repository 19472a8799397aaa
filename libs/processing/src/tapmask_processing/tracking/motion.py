"""Optical-flow helpers: dense flow, mask warping, and motion-coherent region growth."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from tapmask_processing.tracking.tracking import Mask

Gray = npt.NDArray[np.uint8]
Flow = npt.NDArray[np.float32]

# Grid step (px) of the flow samples the camera-motion homography is fitted on.
_FIT_STEP = 10


class FlowEngine:
    """DIS optical flow, ULTRAFAST preset: ~2 ms a frame at 480x270 on one core; on DAVIS
    tennis it tracks as well as FAST (mean IoU 0.374 vs 0.375) at two thirds the cost."""

    def __init__(self, preset: int = cv2.DISOpticalFlow_PRESET_ULTRAFAST) -> None:
        self._dis = cv2.DISOpticalFlow.create(preset)

    def calc(self, source: Gray, target: Gray) -> Flow:
        """Per-pixel displacement taking ``source`` pixels to where they are in ``target``."""
        empty = np.zeros((*source.shape, 2), dtype=np.float32)
        flow: Flow = np.asarray(self._dis.calc(source, target, empty), dtype=np.float32)
        return flow


def new_flow() -> FlowEngine:
    return FlowEngine()


def warp_mask(prev: npt.NDArray[np.float32], backward_flow: Flow) -> npt.NDArray[np.float32]:
    """Move ``prev`` (soft mask of the previous frame) into the current frame, given the
    flow from the current frame to the previous one."""
    h, w = prev.shape
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    warped = cv2.remap(
        prev,
        grid_x + backward_flow[..., 0],
        grid_y + backward_flow[..., 1],
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )
    result: npt.NDArray[np.float32] = warped.astype(np.float32, copy=False)
    return result


def fit_camera(flow: Flow) -> npt.NDArray[np.float64] | None:
    """Homography of the camera's motion, fit (RANSAC) to a grid of flow samples."""
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h:_FIT_STEP, 0:w:_FIT_STEP].astype(np.float32)
    src = np.stack([xs.ravel(), ys.ravel()], axis=1)
    if len(src) < 8:
        return None
    dst = src + flow[::_FIT_STEP, ::_FIT_STEP].reshape(-1, 2)
    homography, _ = cv2.findHomography(src, dst, cv2.RANSAC, 1.0)
    return None if homography is None else np.asarray(homography, dtype=np.float64)


def _around(mask: Mask) -> tuple[slice, slice]:
    """The mask's bounding box grown by its own larger side on every side."""
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    pad = max(y1 - y0, x1 - x0)
    h, w = mask.shape
    return slice(max(0, y0 - pad), min(h, y1 + pad)), slice(max(0, x0 - pad), min(w, x1 + pad))


def motion_coherent_region(
    first: Gray, later: Sequence[tuple[int, Gray]], seed: Mask, flow: FlowEngine
) -> Mask:
    """Pixels near ``seed`` that move with it rather than with the camera, over most of
    the ``(frames ahead, frame)`` pairs in ``later``.

    Parts of an object in other colours than the clicked one (a person's shorts under a
    clicked shirt) share its motion; colour alone cannot join them, motion can.
    """
    region = np.zeros(first.shape, dtype=bool)
    if not seed.any():
        return region
    # Flow and the camera fit need the whole frame; the votes only the seed's area.
    rows, cols = _around(seed)
    gy, gx = np.mgrid[rows, cols].astype(np.float32)
    grid = np.stack([gx, gy], axis=2)
    local_seed = seed[rows, cols]
    votes = np.zeros(local_seed.shape, dtype=np.int32)
    for step, frame in later:
        forward = flow.calc(first, frame)
        homography = fit_camera(forward)
        if homography is None:
            continue
        moved = cv2.perspectiveTransform(grid.reshape(1, -1, 2), homography)
        camera = moved.reshape(grid.shape) - grid
        local = forward[rows, cols]
        seed_motion = np.median(local[local_seed], axis=0)
        to_seed = ((local - seed_motion) ** 2).sum(axis=2)
        to_camera = ((local - camera) ** 2).sum(axis=2)
        # Only trust it where the seed itself moves against the camera.
        if float(np.median(to_camera[local_seed])) < (0.5 * step) ** 2:
            continue
        votes += (to_seed < to_camera) & (to_camera > (0.5 * step) ** 2)
    needed = max(2, (len(later) + 1) // 2)
    region[rows, cols] = votes >= needed
    return region


def moves_with_camera(
    flow: Flow, homography: npt.NDArray[np.float64] | None, core: Mask, region: Mask
) -> Mask:
    """Pixels of ``region`` whose motion the camera (``homography``, fit to ``flow``)
    explains much better than the object's own (``core``'s median motion): background
    the mask has been dragged onto.
    Empty when object and camera move alike (then motion cannot tell them apart)."""
    foreign = np.zeros(flow.shape[:2], dtype=bool)
    if homography is None or not core.any() or not region.any():
        return foreign
    ys, xs = np.nonzero(region)
    points = np.stack([xs, ys], axis=1).astype(np.float32)
    moved = cv2.perspectiveTransform(points[None], homography)[0]
    here = flow[ys, xs]
    camera = moved - points
    own = np.median(flow[core], axis=0)
    to_object = ((here - own) ** 2).sum(axis=1)
    to_camera = ((here - camera) ** 2).sum(axis=1)
    # Squared distances: to_camera < (0.5 * to_object)**2 ... in squares, and > 1 px.
    foreign[ys, xs] = (to_camera < 0.25 * to_object) & (to_object > 1.0)
    return foreign
