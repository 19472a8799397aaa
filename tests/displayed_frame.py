"""A video's first frame as a player shows it, for the tests of display rotation (the unit
test of the click mapping and the command line's end-to-end one). Importable by every test
(``tests/`` is on the tests' path)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

_CHANNELS = {"gray": 1, "rgb24": 3}


def first_frame_as_displayed(
    path: Path, width: int, height: int, pix_fmt: str = "rgb24"
) -> np.ndarray:
    """Frame 0 decoded by the ffmpeg command, which applies the display matrix by default as
    players do: ``(height, width)`` for ``gray``, ``(height, width, 3)`` for ``rgb24``."""
    command = ["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1"]
    command += ["-f", "rawvideo", "-pix_fmt", pix_fmt, "-"]
    raw = subprocess.run(command, capture_output=True, check=True).stdout
    channels = _CHANNELS[pix_fmt]
    assert len(raw) == width * height * channels, "ffmpeg displays another size than the probe"
    frame = np.frombuffer(raw, np.uint8)
    return frame.reshape(height, width) if channels == 1 else frame.reshape(height, width, 3)
