"""Frames that change size mid-stream (issue 9): the probe sees only the first frame, so the
decoder itself must refuse a later frame of another size, and never allocate a frame over
the pixel limit, with a reason a person understands."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tapmask_media.decode import iter_rgb_frames, iter_video_frames
from tapmask_media.errors import FrameSizeChangedError, MediaError, MediaLimitError
from tapmask_media.probe import ProbeLimits, probe
from tapmask_media.stills import frame_timestamps, read_frame


def _jpegs(width: int, height: int, count: int) -> list[bytes]:
    cc = av.CodecContext.create("mjpeg", "w")
    cc.width, cc.height, cc.pix_fmt, cc.time_base = width, height, "yuvj420p", Fraction(1, 10)
    out: list[bytes] = []
    for i in range(count):
        img = np.zeros((height, width, 3), np.uint8)
        img[:, : (i * 7) % width + 1] = 200
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuvj420p")
        frame.pts = i
        out += [bytes(p) for p in cc.encode(frame)]
    out += [bytes(p) for p in cc.encode(None)]
    return out


def growing_avi(path: Path, later: tuple[int, int], first: tuple[int, int] = (640, 480)) -> Path:
    """An MJPEG AVI whose header and first 5 frames say ``first``, then 3 frames of ``later``
    (each JPEG carries its own size, the AVI header only the first)."""
    with av.open(str(path), "w", format="avi") as out:
        stream = out.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = *first, "yuvj420p"
        index = 0
        for size, count in ((first, 5), (later, 3)):
            for data in _jpegs(*size, count):
                packet = av.Packet(data)
                packet.stream = stream
                packet.pts = packet.dts = index
                packet.time_base = Fraction(1, 10)
                out.mux(packet)
                index += 1
    return path


@pytest.mark.parametrize("later", [(1280, 960), (800, 480)], ids=["same-aspect", "other-aspect"])
def test_a_frame_of_another_size_is_refused_with_both_sizes(
    tmp_path: Path, later: tuple[int, int]
) -> None:
    path = growing_avi(tmp_path / "grows.avi", later)
    info = probe(path)  # what the gateway saw: the first frame only
    assert (info.width, info.height) == (640, 480)
    sizes = []
    with pytest.raises(FrameSizeChangedError) as caught:
        for frame in iter_video_frames(path):
            sizes.append((frame.width, frame.height))
    assert sizes == [(640, 480)] * 5  # nothing of the other size got through
    message = str(caught.value)
    assert f"{later[0]}x{later[1]}" in message and "640x480" in message
    assert "frame 5" in message and "changes size" in message
    # The tracker's path (RGB, downscaled) refuses it too: no rescaling hides the change.
    with pytest.raises(FrameSizeChangedError):
        for _ in iter_rgb_frames(path, max_side=320):
            pass


def test_a_frame_over_the_pixel_limit_is_never_decoded(tmp_path: Path) -> None:
    # 12000 x 9000 (108 Mpx: 162 MB per decoded frame) after 640 x 480 ones.
    path = growing_avi(tmp_path / "bomb.avi", (12000, 9000))
    limits = ProbeLimits(max_pixels=4096 * 2160)
    assert probe(path, limits).width == 640
    frames = 0
    with pytest.raises(MediaLimitError) as caught:
        for _ in iter_video_frames(path, limits):
            frames += 1
    assert frames == 5
    message = str(caught.value)
    assert "frame 5" in message and str(4096 * 2160) in message
    assert isinstance(caught.value, MediaError)


def test_a_steady_real_clip_decodes_whole(tmp_path: Path) -> None:
    videos = Path(__file__).resolve().parents[3] / ".." / "shared" / "testdata" / "videos"
    clip = videos / "04_coffee.mp4"
    count = sum(1 for _ in iter_video_frames(clip, ProbeLimits(max_pixels=1280 * 720)))
    assert count == probe(clip).frame_count


def test_a_single_frame_read_refuses_the_frames_the_probe_never_saw(tmp_path: Path) -> None:
    """``read_frame`` (the gateway's frames and mask preview) under the same caps as the
    decoder: frames 0-4 are served, a later one is refused before 108 Mpx are allocated,
    with or without the seek table (issue 18)."""
    path = growing_avi(tmp_path / "bomb.avi", (12000, 9000))
    limits = ProbeLimits(max_pixels=4096 * 2160)
    stamps = frame_timestamps(path, limits)
    assert read_frame(path, 4, 0, stamps, 1024, limits).shape == (480, 640, 3)
    for table in (stamps, None):
        with pytest.raises(MediaLimitError) as caught:
            read_frame(path, 6, 0, table, 1024, limits)
        assert "frame 6 cannot be shown" in str(caught.value)
        assert str(4096 * 2160) in str(caught.value)
    other = growing_avi(tmp_path / "wider.avi", (800, 480))
    with pytest.raises(FrameSizeChangedError, match="800x480 but the video is 640x480"):
        read_frame(other, 5, 0, frame_timestamps(other), None, limits)
