"""Display rotation: between the decoded frame's pixels and the picture a player shows.

A phone stores its video unrotated and adds a display matrix; browsers and players show
the frame rotated by it, so a user clicks in *displayed* pixels. Masks, rendering and
encoding stay in decoded pixels (the output keeps the display matrix), so only clicks
need mapping. ``rotation`` is counter-clockwise degrees as FFmpeg reports it (90 shows
the frame's top edge on the left); flips in the matrix are not handled (phones don't
write them).
"""

from __future__ import annotations


def quarter_turns(rotation: int | float) -> int:
    """Counter-clockwise quarter turns (0..3) of ``rotation`` degrees, to the nearest 90."""
    return round(rotation / 90.0) % 4


def display_size(width: int, height: int, rotation: int | float) -> tuple[int, int]:
    """(width, height) of the displayed picture of a ``width`` x ``height`` frame."""
    return (height, width) if quarter_turns(rotation) % 2 else (width, height)


def display_to_frame(
    x: float, y: float, width: int, height: int, rotation: int | float
) -> tuple[float, float]:
    """The decoded-frame pixel under displayed pixel (``x``, ``y``).

    ``width`` x ``height`` is the decoded frame. Pixel indices map exactly (displayed
    pixel i,j lands on a whole pixel); fractions follow along, clamped to the frame."""
    turns = quarter_turns(rotation)
    if turns == 1:  # displayed = frame turned 90 deg counter-clockwise
        fx, fy = width - 1 - y, x
    elif turns == 2:
        fx, fy = width - 1 - x, height - 1 - y
    elif turns == 3:  # 90 deg clockwise
        fx, fy = y, height - 1 - x
    else:
        fx, fy = x, y
    return min(max(fx, 0.0), width - 1e-3), min(max(fy, 0.0), height - 1e-3)
