"""Mask morphology the trackers share."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from tapmask_processing.tracking.tracking import Mask

# Dilations up to this radius use a disc kernel, larger ones a distance transform.
_SMALL_RADIUS = 4


def disc(radius: int) -> npt.NDArray[np.uint8]:
    size = 2 * radius + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return np.asarray(kernel, dtype=np.uint8)


def dilate(mask: Mask, radius: int) -> Mask:
    """Dilate by a disc, working only on the mask's bounding box (objects are small)."""
    if radius <= 0:
        return mask
    u8 = mask.astype(np.uint8)
    x, y, w, h = cv2.boundingRect(u8)
    if w == 0:
        return mask.copy()
    rows, cols = mask.shape
    x0, y0 = max(0, x - radius), max(0, y - radius)
    x1, y1 = min(cols, x + w + radius), min(rows, y + h + radius)
    grown = np.zeros_like(mask)
    if radius <= _SMALL_RADIUS:
        grown[y0:y1, x0:x1] = cv2.dilate(u8[y0:y1, x0:x1], disc(radius)) > 0
    else:
        # A big disc costs dilation its area per pixel; a distance transform is linear.
        outside = np.ascontiguousarray(1 - u8[y0:y1, x0:x1])
        grown[y0:y1, x0:x1] = cv2.distanceTransform(outside, cv2.DIST_L2, 5) <= radius
    return grown
