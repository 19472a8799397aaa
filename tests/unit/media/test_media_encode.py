"""Re-encoding keeps what a user checks: frame timing (VFR), rotation, audio, faststart."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tapmask_media.decode import iter_rgb_frames, iter_video_frames, prefetch
from tapmask_media.masks import Mask
from tapmask_media.probe import probe
from tapmask_processing.render import render_video

W, H = 160, 96
VFR_PTS_MS = [0, 40, 80, 200, 233, 300, 500, 520, 540, 700, 1000, 1033]


def _picture(i: int) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return np.stack(
        [(xx * 3 + i * 7) % 256, (yy * 5 + i * 3) % 256, ((xx + yy) * 2) % 256], axis=2
    ).astype(np.uint8)


def make_clip(
    path: Path,
    pts_ms: list[int],
    rotation: int = 0,
    audio: str | None = None,
    fmt: str | None = None,
    vcodec: str = "libx264",
) -> Path:
    """A small clip with the given frame times (ms), rotation and audio codec."""
    with av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream(vcodec, rate=25)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        video.time_base = Fraction(1, 1000)
        video.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            video.set_display_rotation(rotation)
        astream = None
        if audio is not None:
            astream = out.add_stream(audio, rate=8000 if audio != "aac" else 48000)
        for i, pts in enumerate(pts_ms):
            frame = av.VideoFrame.from_ndarray(_picture(i), format="rgb24")
            frame.pts = pts
            frame.time_base = Fraction(1, 1000)
            nxt = pts_ms[i + 1] if i + 1 < len(pts_ms) else pts + 40
            frame.duration = nxt - pts
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if astream is not None:
            rate = astream.codec_context.sample_rate
            fmt_name = astream.codec_context.format.name
            n = 1024
            total = int(rate * (pts_ms[-1] + 40) / 1000)
            layout = "mono"
            for k in range(0, total, n):
                t = (np.arange(k, k + n) / rate).astype(np.float32)
                wave = 0.3 * np.sin(2 * np.pi * 440 * t)
                if fmt_name in ("u8", "u8p"):
                    data = ((wave + 1) * 127).astype(np.uint8)[None]
                elif fmt_name in ("s16", "s16p"):
                    data = (wave * 32767).astype(np.int16)[None]
                else:
                    data = wave.astype(np.float32)[None]
                af = av.AudioFrame.from_ndarray(data, format=fmt_name, layout=layout)
                af.sample_rate = rate
                af.pts = k
                out.mux(astream.encode(af))
            out.mux(astream.encode(None))
    return path


def _empty_masks(n: int) -> list[Mask]:
    return [np.zeros((H, W), bool) for _ in range(n)]


def _frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        return [float(f.pts * f.time_base) for f in c.decode(video=0)]


def test_variable_frame_rate_is_kept(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "vfr.mp4", VFR_PTS_MS)
    out = tmp_path / "out.mp4"
    assert render_video(src, out, _empty_masks(len(VFR_PTS_MS))) == len(VFR_PTS_MS)
    got, want = _frame_times(out), _frame_times(src)
    assert len(got) == len(want)
    assert np.allclose(got, want, atol=1e-3), (got, want)
    assert abs(probe(out).duration_s - probe(src).duration_s) < 0.04


def test_rotation_metadata_is_kept(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "rot.mp4", list(range(0, 400, 40)), rotation=90)
    out = tmp_path / "out.mp4"
    render_video(src, out, _empty_masks(10))
    assert probe(src).rotation == 90
    info = probe(out)
    assert info.rotation == 90
    assert (info.width, info.height) == (W, H)  # pixels stay as decoded; players rotate


def _audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(audio=0) if p.size]


def test_audio_is_copied_unchanged_and_output_is_faststart(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "a.mp4", list(range(0, 2000, 40)), audio="aac")
    out = tmp_path / "out.mp4"
    render_video(src, out, _empty_masks(50))
    assert _audio_packets(out) == _audio_packets(src)
    head = out.read_bytes()
    assert head.index(b"moov") < head.index(b"mdat")  # faststart: index first
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert (v.codec_context.name, v.codec_context.pix_fmt) == ("h264", "yuv420p")


def test_audio_mp4_cannot_hold_is_transcoded_to_aac(tmp_path: Path) -> None:
    src = make_clip(
        tmp_path / "a.avi", list(range(0, 1000, 40)), audio="pcm_u8", fmt="avi", vcodec="mpeg4"
    )
    out = tmp_path / "out.mp4"
    render_video(src, out, _empty_masks(25))
    info = probe(out)
    assert info.has_audio and info.audio_codec == "aac"
    assert info.frame_count == 25


def test_decoding_is_lazy_and_prefetch_propagates_errors(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "v.mp4", list(range(0, 400, 40)))
    frames = iter_video_frames(src)
    first = next(frames)  # a generator: nothing decoded beyond what was asked
    assert first.width == W
    small = next(iter_rgb_frames(src, max_side=80))
    assert small.shape == (48, 80, 3)

    def boom() -> object:
        yield 1
        raise RuntimeError("decoder broke")

    with pytest.raises(RuntimeError, match="decoder broke"):
        list(prefetch(boom()))
