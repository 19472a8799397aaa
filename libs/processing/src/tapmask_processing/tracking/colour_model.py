"""Foreground/background colour histograms: P(object | colour) per pixel."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tapmask_processing.tracking.tracking import Frame, Mask

# 16 levels per channel (4096 colours): coarse enough to generalise over shading.
_SHIFT = 4
_LEVELS = 256 >> _SHIFT
# Histogram mass (of 1) below which a colour is too rare to call either way.
_RARE = 0.0005

Histogram = npt.NDArray[np.float32]
#: Per-pixel colour bin of a frame (``colour_index``): computed once per frame, shared.
ColourIndex = npt.NDArray[np.intp]


def colour_index(rgb: Frame) -> ColourIndex:
    """Per-pixel histogram bin of each colour (numpy, not cv2.calcBackProject, whose
    3-D bin layout did not match cv2.calcHist's in the OpenCV 5 build here)."""
    q = (rgb >> _SHIFT).astype(np.intp)
    index: ColourIndex = (q[..., 0] * _LEVELS + q[..., 1]) * _LEVELS + q[..., 2]
    return index


def _histogram(index: ColourIndex, mask: Mask) -> Histogram:
    counts = np.bincount(index[mask], minlength=_LEVELS**3).astype(np.float32)
    total = float(counts.sum())
    if total > 0:
        counts /= total
    return counts


def _background(index: ColourIndex, mask: Mask, ring: Mask) -> Histogram:
    """Half the ring right around the object, half the rest of the frame: the ring is
    what the mask edge competes with, the rest keeps colours seen elsewhere (a white
    banner behind a white shirt) from looking like the object."""
    rest = ~(mask | ring)
    if not rest.any():
        return _histogram(index, ring)
    mixed: Histogram = 0.5 * _histogram(index, ring) + 0.5 * _histogram(index, rest)
    return mixed


class ColourModel:
    """Object and surroundings colour histograms, blended slowly with new evidence."""

    def __init__(self, index: ColourIndex, mask: Mask, ring: Mask) -> None:
        self.fg = _histogram(index, mask)
        self.bg = _background(index, mask, ring)

    def update(self, index: ColourIndex, mask: Mask, ring: Mask, rate: float = 0.1) -> None:
        """Blend in this frame's statistics (slowly, so that a bad frame can't take over)."""
        if mask.any():
            self.fg = (1 - rate) * self.fg + rate * _histogram(index, mask)
        if ring.any():
            self.bg = (1 - rate) * self.bg + rate * _background(index, mask, ring)

    def probability(self, index: ColourIndex) -> npt.NDArray[np.float32]:
        """Per-pixel P(object | colour) in [0, 1].

        ``_RARE`` in the denominator keeps colours the object has hardly shown (an
        occluder's, bled in for a frame) from counting as object just because the
        surroundings never showed them either.
        """
        posterior = (self.fg / (self.fg + self.bg + _RARE)).astype(np.float32)
        result: npt.NDArray[np.float32] = posterior[index]
        return result


def similarity(index: ColourIndex, mask: Mask, reference: Histogram) -> float:
    """Bhattacharyya coefficient (1 = same colours) of ``mask``'s colours to ``reference``."""
    if not mask.any():
        return 0.0
    hist = _histogram(index, mask)
    return float(np.sqrt(hist * reference).sum())


def salience(index: ColourIndex, reference: Histogram) -> npt.NDArray[np.float32]:
    """Per-pixel P(object | colour) against the whole frame as background: colours the
    object shows more than the frame at large does. For finding a lost object again."""
    frame = _histogram(index, np.ones(index.shape, dtype=bool))
    posterior = (reference / (reference + frame + _RARE)).astype(np.float32)
    result: npt.NDArray[np.float32] = posterior[index]
    return result
