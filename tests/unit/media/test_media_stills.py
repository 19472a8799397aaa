"""Any frame of a video by its index, as players show it (the web app's frame picker)."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tapmask_media.decode import iter_rgb_frames
from tapmask_media.errors import MediaError
from tapmask_media.stills import (
    encode_jpeg,
    encode_png_mask,
    frame_timestamps,
    read_frame,
)

VIDEOS = Path(__file__).resolve().parents[3].parent / "shared" / "testdata" / "videos"


def _numbered_clip(path: Path, frames: int = 60, rotation: int = 0, gop: int = 25) -> Path:
    """Frame i has a bright bar whose left edge is at x = 2 * i (so its index is readable)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 160, 64, "yuv420p"
        stream.options = {"g": str(gop), "bf": "2"}
        if rotation:
            stream.set_display_rotation(rotation)
        for i in range(frames):
            img = np.full((64, 160, 3), 20, np.uint8)
            img[:32, 2 * i : 2 * i + 8] = 230
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode(None))
    return path


def _bar_x(rgb: np.ndarray) -> int:
    cols = np.nonzero(rgb[:32, :, 0].mean(axis=0) > 128)[0]
    return int(cols.min())


def test_any_frame_is_the_one_sequential_decoding_gives(tmp_path: Path) -> None:
    clip = _numbered_clip(tmp_path / "n.mp4")
    stamps = frame_timestamps(clip)
    assert stamps is not None and len(stamps) == 60
    # Inside a GOP, on a keyframe, after B-frames, the last one, in any order.
    for index in (37, 0, 25, 26, 59, 1):
        assert _bar_x(read_frame(clip, index, timestamps=stamps)) == 2 * index


def test_a_real_clip_frame_matches_decoding_from_the_start() -> None:
    clip = VIDEOS / "01_dog.mp4"
    stamps = frame_timestamps(clip)
    assert stamps is not None and len(stamps) == 289
    wanted = {0, 140, 288}
    for i, frame in enumerate(iter_rgb_frames(clip)):
        if i in wanted:
            assert np.array_equal(read_frame(clip, i, timestamps=stamps), frame), i


def test_without_timestamps_it_counts_frames(tmp_path: Path) -> None:
    clip = _numbered_clip(tmp_path / "n.mp4", frames=30)
    assert _bar_x(read_frame(clip, 17)) == 34


def test_the_frame_is_turned_as_players_show_it(tmp_path: Path) -> None:
    clip = _numbered_clip(tmp_path / "r.mp4", frames=5, rotation=90)
    shown = read_frame(clip, 3, rotation=90, timestamps=frame_timestamps(clip))
    # Stored 160x64; a 90-degree (counter-clockwise) rotation shows it 64 wide, 160 tall,
    # the stored top rows (the bar) on the left, its left end at the bottom.
    assert shown.shape == (160, 64, 3)
    bright = np.nonzero(shown[:, :, 0] > 128)
    assert bright[1].max() < 32
    assert 160 - 1 - bright[0].max() == 6  # stored x = 2 * 3


def test_a_frame_past_the_end_is_refused_in_plain_words(tmp_path: Path) -> None:
    clip = _numbered_clip(tmp_path / "n.mp4", frames=10)
    with pytest.raises(MediaError, match="the video has 10 frames"):
        read_frame(clip, 10, timestamps=frame_timestamps(clip))
    with pytest.raises(MediaError, match="does not exist"):
        read_frame(clip, 12)


def test_jpeg_and_png_decode_back_to_what_was_encoded(tmp_path: Path) -> None:
    rgb = read_frame(VIDEOS / "02_cups.mp4", 0, max_side=640)
    assert rgb.shape == (360, 640, 3)
    jpeg = encode_jpeg(rgb)
    back = next(av.open(io.BytesIO(jpeg)).decode(video=0)).to_ndarray(format="rgb24")
    assert back.shape == rgb.shape
    assert np.abs(back.astype(int) - rgb).mean() < 4
    mask = np.zeros((90, 120), bool)
    mask[10:40, 30:70] = True
    png = encode_png_mask(mask)
    grey = next(av.open(io.BytesIO(png)).decode(video=0)).to_ndarray(format="gray")
    assert np.array_equal(grey > 127, mask)
