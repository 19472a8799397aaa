"""A fill shows the colour asked for, whatever colour matrix and range the video uses."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from tapmask_processing.render import RenderOptions, render_video
from tapmask_processing.rendering.compositing import BT601, BT709, EffectSettings, yuv_encoding

FILL = (30, 200, 60)  # saturated: BT.601 and BT.709 give it clearly different Y'CbCr


def _tagged_clip(path: Path, width: int, height: int, colorspace: int, color_range: int) -> Path:
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        cc = video.codec_context
        cc.colorspace, cc.color_primaries, cc.color_trc = colorspace, colorspace, colorspace
        cc.color_range = color_range
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(
                np.full((height, width, 3), 128, np.uint8), format="rgb24"
            ).reformat(format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


@pytest.mark.parametrize(
    ("width", "height", "colorspace", "color_range"),
    [
        (160, 96, 1, 1),  # BT.709-tagged but small: a height guess would say BT.601
        (48, 720, 6, 1),  # BT.601-tagged (SMPTE 170M) but 720 lines: a guess says BT.709
        (160, 96, 6, 2),  # full range (as some phones record)
    ],
)
def test_fill_colour_follows_the_colour_tags(
    tmp_path: Path, width: int, height: int, colorspace: int, color_range: int
) -> None:
    src = _tagged_clip(tmp_path / "tagged.mp4", width, height, colorspace, color_range)
    mask = np.zeros((height, width), bool)
    mask[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = True
    out = tmp_path / "out.mp4"
    options = RenderOptions(mode="fill", effect=EffectSettings(fill_rgb=FILL, feather=0))
    render_video(src, out, [mask] * 3, options)
    with av.open(str(out)) as c:
        frame = next(c.decode(video=0))
        assert (frame.colorspace, frame.color_range) == (colorspace, color_range)
        # PyAV converts to RGB with the frame's own tags, as players do.
        rgb = frame.to_ndarray(format="rgb24")
    centre = rgb[height // 2 - 4 : height // 2 + 4, width // 2 - 4 : width // 2 + 4]
    got = centre.reshape(-1, 3).mean(axis=0)
    assert np.abs(got - FILL).max() <= 5, (got, FILL)


def test_untagged_video_guesses_the_matrix_from_its_height() -> None:
    assert yuv_encoding(2, 0, 480) == BT601  # 2: unspecified
    assert yuv_encoding(None, None, 1080) == BT709
    assert yuv_encoding(1, 0, 480) == BT709
    assert yuv_encoding(6, 2, 1080).full_range


def test_erase_keeps_the_colours_of_a_tagged_video(tmp_path: Path) -> None:
    """The eraser works in RGB; its result goes back with the video's own matrix."""
    width, height = 160, 96
    src = tmp_path / "tagged.mp4"
    # BT.709-tagged: saturated green with a red square, which the masks cover.
    with av.open(str(src), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        cc = video.codec_context
        cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 1, 1, 1, 1
        for i in range(6):
            img = np.empty((height, width, 3), np.uint8)
            img[:] = FILL
            img[30:60, 40 + 4 * i : 70 + 4 * i] = (220, 30, 30)
            rgb = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame = rgb.reformat(format="yuv420p", dst_colorspace=1, dst_color_range=1)
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    masks = []
    for i in range(6):
        m = np.zeros((height, width), bool)
        m[26:64, 36 + 4 * i : 74 + 4 * i] = True
        masks.append(m)
    out_path = tmp_path / "out.mp4"
    render_video(src, out_path, masks, RenderOptions(mode="erase"))
    with av.open(str(out_path)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            rgb = frame.to_ndarray(format="rgb24")
            inside = rgb[masks[i]].reshape(-1, 3).mean(axis=0)
            assert np.abs(inside - FILL).max() <= 6, (i, inside)
