"""Foreground/background colour histograms: P(object | colour) per pixel."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from tapmask_tracker.core.tracking import Frame, Mask

_BINS = 16
_RANGES = [0, 256, 0, 256, 0, 256]


def _histogram(rgb: Frame, mask: Mask) -> npt.NDArray[np.float32]:
    hist = cv2.calcHist([rgb], [0, 1, 2], mask.astype(np.uint8), [_BINS] * 3, _RANGES).astype(
        np.float32
    )
    total = float(hist.sum())
    if total > 0:
        hist /= total
    return hist


class ColourModel:
    """Object and surroundings colour histograms, blended slowly with new evidence."""

    def __init__(self, rgb: Frame, mask: Mask, ring: Mask) -> None:
        self.fg = _histogram(rgb, mask)
        self.bg = _histogram(rgb, ring)

    def update(self, rgb: Frame, mask: Mask, ring: Mask, rate: float = 0.1) -> None:
        """Blend in this frame's statistics (slowly, so that a bad frame can't take over)."""
        if mask.any():
            self.fg = (1 - rate) * self.fg + rate * _histogram(rgb, mask)
        if ring.any():
            self.bg = (1 - rate) * self.bg + rate * _histogram(rgb, ring)

    def probability(self, rgb: Frame) -> npt.NDArray[np.float32]:
        """Per-pixel P(object | colour) in [0, 1]; 0.5 where neither model has seen it."""
        eps = 1e-6
        posterior = (self.fg + eps) / (self.fg + self.bg + 2 * eps)
        # Back-projection writes the image's depth (uint8): scale to 0..255 and back.
        prob = cv2.calcBackProject([rgb], [0, 1, 2], posterior * 255.0, _RANGES, scale=1.0)
        result: npt.NDArray[np.float32] = prob.astype(np.float32) / 255.0
        return result
