"""Display rotation: the probe's displayed size and the click mapping agree with how
FFmpeg (as players do) shows a rotated phone video."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from displayed_frame import first_frame_as_displayed

from tapmask_media.orientation import display_to_frame
from tapmask_media.probe import probe

W, H = 160, 96
SQUARE = np.s_[10:30, 20:40]  # rows (y), columns (x) of the bright square, decoded pixels


def _rotated_clip(path: Path, rotation: int) -> Path:
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        video.set_display_rotation(rotation)
        for i in range(3):
            img = np.zeros((H, W, 3), np.uint8)
            img[SQUARE] = 255
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


def _as_displayed(path: Path, width: int, height: int) -> np.ndarray:
    """Frame 0 as the ffmpeg CLI shows it (it applies the display matrix by default)."""
    return first_frame_as_displayed(path, width, height, "gray")


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_clicks_on_the_displayed_square_land_on_the_decoded_square(
    tmp_path: Path, rotation: int
) -> None:
    info = probe(_rotated_clip(tmp_path / "r.mp4", rotation))
    assert info.rotation == rotation
    assert (info.width, info.height) == (W, H)
    want = (H, W) if rotation in (90, 270) else (W, H)
    assert (info.display_width, info.display_height) == want

    shown = _as_displayed(tmp_path / "r.mp4", info.display_width, info.display_height)
    inside = np.zeros((H, W), bool)
    inside[SQUARE] = True
    ys, xs = np.nonzero(shown > 200)
    assert len(xs) > 300  # the square is there to click on
    for xd, yd in zip(xs, ys, strict=True):
        x, y = display_to_frame(float(xd), float(yd), W, H, info.rotation)
        assert 0 <= x < W and 0 <= y < H
        assert inside[int(y), int(x)], (rotation, (xd, yd), (x, y))
