"""Odd frame sizes (e.g. 321x241 from a cropped or screen-recorded clip) keep their size."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_helpers import frames_rgb, lap_var, process_with_masks, psnr, run_tapmask, write_disc_clip

from tapmask_media.probe import probe

W, H = 321, 241


def _odd_clip(path: Path, frames: int = 10) -> list[np.ndarray]:
    """A striped disc moving over a smooth background at 321x241, 4:2:0 (MPEG-4 part 2
    can store odd sizes, x264 cannot). Returns the exact masks."""
    return write_disc_clip(
        path,
        (W, H),
        frames,
        lambda i, xx, yy: (xx - (90 + 5 * i)) ** 2 + (yy - 121) ** 2 <= 30**2,
        codec="mpeg4",
        options={"qscale": "2"},
    )


def _check_output(src: Path, out: Path, truth: list[np.ndarray], hidden: range) -> None:
    info = probe(out)
    assert (info.width, info.height) == (W, H)
    assert info.frame_count == len(truth)
    assert info.pix_fmt == "yuv444p"  # 4:2:0 cannot hold odd sizes (see encode.py)
    for (i, a), (_, b) in zip(frames_rgb(src), frames_rgb(out), strict=True):
        assert b.shape == (H, W, 3)
        near = cv2.dilate(truth[i].astype(np.uint8), np.ones((41, 41), np.uint8)) > 0
        assert psnr(a[~near], b[~near]) >= 30.0, f"frame {i}: the background changed"
        if i in hidden:
            inner = cv2.erode(truth[i].astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
            assert lap_var(b, inner) < lap_var(a, inner) / 10, f"frame {i}: object not hidden"


@pytest.mark.parametrize("mode", ["blur", "pixelate", "erase"])
def test_odd_sized_video_keeps_its_size_and_hides_the_object(tmp_path: Path, mode: str) -> None:
    src = tmp_path / "odd.mp4"
    truth = _odd_clip(src)
    out = process_with_masks(src, truth, mode, tmp_path)
    _check_output(src, out, truth, hidden=range(len(truth)))


def test_odd_sized_video_with_a_click(tmp_path: Path) -> None:
    """The tracker path too (its quality is tested elsewhere: here, the clicked frame)."""
    src = tmp_path / "odd.mp4"
    truth = _odd_clip(src, frames=4)
    out = tmp_path / "out.mp4"
    done = run_tapmask("process", src, "-o", out, "--point", "90,121", "--mode", "blur")
    assert done.returncode == 0, done.stderr
    _check_output(src, out, truth, hidden=range(1))
