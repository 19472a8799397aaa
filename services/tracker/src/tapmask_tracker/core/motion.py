"""Optical-flow helpers: dense flow, mask warping, and motion-coherent region growth."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from tapmask_tracker.core.tracking import Mask

Gray = npt.NDArray[np.uint8]
Flow = npt.NDArray[np.float32]

# Grid step (px) of the flow samples the camera-motion homography is fitted on.
_FIT_STEP = 10


class FlowEngine:
    """DIS optical flow (FAST preset: a few ms per frame at 480x270 on one core)."""

    def __init__(self) -> None:
        self._dis = cv2.DISOpticalFlow.create(cv2.DISOpticalFlow_PRESET_FAST)

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


def _fit_camera(flow: Flow) -> npt.NDArray[np.float64] | None:
    """Homography of the camera's motion, fit (RANSAC) to a grid of flow samples."""
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h:_FIT_STEP, 0:w:_FIT_STEP].astype(np.float32)
    src = np.stack([xs.ravel(), ys.ravel()], axis=1)
    if len(src) < 8:
        return None
    dst = src + flow[::_FIT_STEP, ::_FIT_STEP].reshape(-1, 2)
    homography, _ = cv2.findHomography(src, dst, cv2.RANSAC, 1.0)
    return None if homography is None else np.asarray(homography, dtype=np.float64)


def camera_flow(flow: Flow) -> Flow | None:
    """Flow explained by a homography (the camera's motion), or None if it can't be fit."""
    homography = _fit_camera(flow)
    if homography is None:
        return None
    h, w = flow.shape[:2]
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    grid = np.stack([gx, gy], axis=2)
    moved = cv2.perspectiveTransform(grid.reshape(1, -1, 2), homography).reshape(h, w, 2)
    camera: Flow = (moved - grid).astype(np.float32)
    return camera


def motion_coherent_region(
    first: Gray, later: Sequence[Gray], seed: Mask, flow: FlowEngine
) -> Mask:
    """Pixels that move with ``seed`` rather than with the camera, over most of ``later``.

    Parts of an object in other colours than the clicked one (a person's shorts under a
    clicked shirt) share its motion; colour alone cannot join them, motion can.
    """
    votes = np.zeros(first.shape, dtype=np.int32)
    if not seed.any():
        return np.zeros(first.shape, dtype=bool)
    for step, frame in enumerate(later, start=1):
        forward = flow.calc(first, frame)
        camera = camera_flow(forward)
        if camera is None:
            continue
        seed_motion = np.median(forward[seed], axis=0)
        to_seed = np.linalg.norm(forward - seed_motion, axis=2)
        to_camera = np.linalg.norm(forward - camera, axis=2)
        # Only trust it where the seed itself moves against the camera.
        if float(np.median(to_camera[seed])) < 0.5 * step:
            continue
        votes += (to_seed < to_camera) & (to_camera > 0.5 * step)
    needed = max(2, (len(later) + 1) // 2)
    region: Mask = votes >= needed
    return region


def moves_with_camera(flow: Flow, core: Mask, region: Mask) -> Mask:
    """Pixels of ``region`` whose motion the camera explains much better than the
    object's own (``core``'s median motion): background the mask has been dragged onto.
    Empty when object and camera move alike (then motion cannot tell them apart)."""
    foreign = np.zeros(flow.shape[:2], dtype=bool)
    if not core.any() or not region.any():
        return foreign
    homography = _fit_camera(flow)
    if homography is None:
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
