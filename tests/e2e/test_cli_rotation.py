"""A phone video with display rotation: the user clicks on the picture a player shows."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from cli_helpers import frames_rgb, lap_var, run_tapmask, write_disc_clip
from displayed_frame import first_frame_as_displayed

from tapmask_media.masks import read_png_masks
from tapmask_media.probe import probe

W, H = 256, 160  # decoded (stored) size; displayed as 160 x 256 with rotation 90


def _rotated_disc_clip(path: Path, frames: int = 12) -> list[np.ndarray]:
    """A striped red/yellow disc moving right over a smooth background, stored with a
    90-degree display rotation (as a phone held upright writes it). Returns the exact
    masks in decoded pixels."""
    return write_disc_clip(
        path,
        (W, H),
        frames,
        lambda i, xx, yy: (xx - (70 + 4 * i)) ** 2 + (yy - 80) ** 2 <= 26**2,
        rotation=90,
    )


def _click_on_displayed_disc(path: Path, width: int, height: int) -> str:
    """Where a user looking at a player clicks: the disc's centre on the displayed frame 0
    (the ffmpeg CLI applies the display matrix, as players do)."""
    shown = first_frame_as_displayed(path, width, height).astype(int)
    ys, xs = np.nonzero((shown[..., 0] > 200) & (shown[..., 2] < 100))  # red/yellow disc
    return f"{round(xs.mean())},{round(ys.mean())}"


def test_click_in_displayed_pixels_hides_the_object_of_a_rotated_video(tmp_path: Path) -> None:
    src = tmp_path / "phone.mp4"
    truth = _rotated_disc_clip(src)
    info = probe(src)
    assert (info.display_width, info.display_height) == (H, W)
    click = _click_on_displayed_disc(src, info.display_width, info.display_height)

    masks_dir = tmp_path / "masks"
    done = run_tapmask("masks", src, "--point", click, "--out", masks_dir)
    assert done.returncode == 0, done.stderr
    got = list(read_png_masks(masks_dir, size=(W, H)))  # masks are in decoded pixels
    recall = [float((g & t).sum() / t.sum()) for g, t in zip(got, truth, strict=True)]
    assert np.mean(recall) > 0.8, recall
    stray = [float((g & ~t).sum() / t.sum()) for g, t in zip(got, truth, strict=True)]
    assert np.mean(stray) < 0.5, stray

    out = tmp_path / "out.mp4"
    done = run_tapmask("process", src, "-o", out, "--point", click, "--mode", "fill")
    assert done.returncode == 0, done.stderr
    got_info = probe(out)
    assert got_info.rotation == 90  # players still show it upright
    assert (got_info.width, got_info.height) == (W, H)
    assert got_info.frame_count == len(truth)
    for (i, a), (_, b) in zip(frames_rgb(src, 4), frames_rgb(out, 4), strict=True):
        inner = cv2.erode(truth[i].astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        assert lap_var(b, inner) < lap_var(a, inner) / 10, f"frame {i}: object not hidden"


def test_click_outside_the_displayed_frame_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "phone.mp4"
    _rotated_disc_clip(src, frames=3)
    # x=200 is inside the stored 256-wide frame but outside the 160-wide displayed one.
    done = run_tapmask("masks", src, "--point", "200,20", "--out", tmp_path / "m", timeout=60)
    assert done.returncode != 0
    assert "outside the 160x256 frame" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
