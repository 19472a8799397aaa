"""Probing real clips and hostile files: what a user or the gateway sees."""

from __future__ import annotations

import json
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from av_frames import encode_all, silence

from tapmask_media.errors import (
    EmptyFileError,
    MediaLimitError,
    NotAVideoError,
    NoVideoStreamError,
    TruncatedFileError,
    UnsupportedFormatError,
)
from tapmask_media.probe import ProbeLimits, probe, probe_in_subprocess

VIDEOS = Path(__file__).resolve().parents[3] / ".." / "shared" / "testdata" / "videos"
MANIFEST = json.loads((VIDEOS / "manifest.json").read_text())["videos"]


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_probe_matches_manifest(name: str) -> None:
    expected = MANIFEST[name]
    info = probe(VIDEOS / name)
    assert [info.width, info.height] == expected["size"]
    assert info.frame_count == expected["frames"]
    assert info.fps == Fraction(expected["fps"])
    assert info.has_audio is expected["audio"]
    assert info.video_codec == "h264"
    # Duration is frames / fps for these constant-rate clips, within one frame.
    assert abs(info.duration_s - expected["frames"] / Fraction(expected["fps"])) < 1 / float(
        Fraction(expected["fps"])
    )


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48000)
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate = 48000
            frame.pts = i * 1024
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def test_zero_byte_file(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(EmptyFileError, match="empty"):
        probe(tmp_path / "empty.mp4")


def test_text_renamed_mp4(tmp_path: Path) -> None:
    (tmp_path / "notes.mp4").write_text("shopping list: eggs, milk\n" * 20)
    with pytest.raises(NotAVideoError, match="not a video file"):
        probe(tmp_path / "notes.mp4")


@pytest.mark.parametrize("keep", [3000, 600_000])
def test_truncated_mp4(tmp_path: Path, keep: int) -> None:
    cut = tmp_path / "cut.mp4"
    cut.write_bytes((VIDEOS / "01_dog.mp4").read_bytes()[:keep])
    with pytest.raises(TruncatedFileError, match="truncated"):
        probe(cut)


def _index_last_clip(path: Path) -> Path:
    """A phone-style MP4: video and audio data first, the index ('moov') written last."""
    with av.open(str(path), "w") as out:  # PyAV's mp4 muxer writes moov at the end
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 128, 96, "yuv420p"
        audio = out.add_stream("aac", rate=48000)
        for i in range(25):
            img = np.full((96, 128, 3), (i * 9) % 256, np.uint8)
            img[20:60, 30 + i : 70 + i] = (250, 40, 40)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
            sound = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            sound.sample_rate, sound.pts = 48000, i * 1024
            out.mux(audio.encode(sound))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    return path


def _box_offsets(data: bytes) -> dict[bytes, int]:
    offsets, pos = {}, 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        offsets[kind] = pos
        pos += size
    return offsets


@pytest.mark.parametrize("where", ["inside the data", "before the index", "inside the index"])
def test_truncated_mp4_with_index_at_the_end(tmp_path: Path, where: str) -> None:
    data = _index_last_clip(tmp_path / "whole.mp4").read_bytes()
    boxes = _box_offsets(data)
    assert boxes[b"mdat"] < boxes[b"moov"]  # the layout this test is about
    assert probe(tmp_path / "whole.mp4").frame_count == 25
    keep = {
        "inside the data": (boxes[b"mdat"] + boxes[b"moov"]) // 2,
        "before the index": boxes[b"moov"],
        # Both of these once read as "the file has no video stream" or even as fine.
        "inside the index": boxes[b"moov"] + 120,
    }[where]
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[:keep])
    with pytest.raises(TruncatedFileError, match="truncated or incomplete") as err:
        probe(cut)
    assert "no video stream" not in str(err.value)


@pytest.mark.parametrize("missing", [1, 40, 200])
def test_mp4_missing_the_end_of_its_index_is_truncated(tmp_path: Path, missing: int) -> None:
    """A few bytes short at the very end (the audio track's tables): FFmpeg alone
    accepts such a file; the box sizes say it is incomplete."""
    data = _index_last_clip(tmp_path / "whole.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[:-missing])
    with pytest.raises(TruncatedFileError, match="'moov' box \\(the index\\) runs to byte"):
        probe(cut)


def test_audio_only_has_no_video_stream(tmp_path: Path) -> None:
    with pytest.raises(NoVideoStreamError, match="no video stream"):
        probe(_audio_only(tmp_path / "voice.mp4"))


def test_playlist_formats_are_refused(tmp_path: Path) -> None:
    # An HLS playlist pointing elsewhere must never be followed.
    m3u8 = tmp_path / "list.mp4"
    m3u8.write_text("#EXTM3U\n#EXTINF:10,\nhttp://127.0.0.1:9/x.ts\n")
    with pytest.raises((NotAVideoError, UnsupportedFormatError)):
        probe(m3u8)


def test_pixel_limit(tmp_path: Path) -> None:
    with pytest.raises(MediaLimitError, match="pixels"):
        probe(VIDEOS / "bedroom.mp4", ProbeLimits(max_pixels=640 * 480))


def test_probe_in_subprocess_returns_info_and_errors(tmp_path: Path) -> None:
    info = probe_in_subprocess(VIDEOS / "bedroom.mp4", timeout=60)
    assert (info.width, info.height, info.frame_count) == (960, 540, 200)
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video at all\n" * 10)
    with pytest.raises(NotAVideoError):
        probe_in_subprocess(notes, timeout=60)


def test_probe_in_subprocess_memory_cap_fails_cleanly() -> None:
    # 64 MiB of address space is too little even to load FFmpeg: a clean MediaError, and
    # the caller's process is untouched.
    from tapmask_media.errors import ProbeTimeoutError

    with pytest.raises(ProbeTimeoutError, match="probe process failed"):
        probe_in_subprocess(VIDEOS / "bedroom.mp4", timeout=60, memory_limit=64 * 1024**2)


def test_the_probing_child_gets_no_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A sitecustomize on PYTHONPATH runs first thing in the child and records what a
    # demuxer exploit would find in the process's environment.
    seen = tmp_path / "child-env.json"
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        f"import json, os\nopen({str(seen)!r}, 'w').write(json.dumps(dict(os.environ)))\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(hook))
    monkeypatch.setenv("TAPMASK_TOKEN_SECRET", "s3cr3t-token-key")
    monkeypatch.setenv("TAPMASK_DATABASE__URL", "postgresql://u:pw@db/tapmask")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    info = probe_in_subprocess(VIDEOS / "bedroom.mp4", timeout=60)
    assert info.frame_count == 200
    env = json.loads(seen.read_text())
    assert "PATH" in env  # the child did run with the hook
    leaked = [k for k, v in env.items() if k.startswith(("TAPMASK_", "AWS_")) or "s3cr3t" in v]
    assert leaked == []


def _clip_with_long_audio(path: Path, video_s: float, audio_s: float) -> Path:
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("aac", rate=8000)
        for i in range(int(video_s * 10)):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i, np.uint8), format="rgb24")
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        encode_all(out, audio, silence(int(audio_s * 8000 / 1024), 8000))
    return path


def test_an_audio_track_longer_than_allowed_is_refused(tmp_path: Path) -> None:
    # Issue 9: a 2 s video carrying 30 s of audio passed as "2 s"; the renderer copies the
    # whole audio track into the result.
    path = _clip_with_long_audio(tmp_path / "long-audio.mp4", 2, 30)
    limits = ProbeLimits(max_duration_s=10)
    with pytest.raises(MediaLimitError, match="audio track is more than 10 s long"):
        probe(path, limits)
    short = _clip_with_long_audio(tmp_path / "ok.mp4", 2, 5)
    info = probe(short, limits)
    assert info.has_audio and info.frame_count == 20


def test_a_tiny_picture_or_a_thousand_frames_a_second_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tiny.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=1000)
        stream.width = stream.height = 16
        stream.pix_fmt = "yuv420p"
        for i in range(200):
            img = np.full((16, 16, 3), i, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode(None))
    with pytest.raises(MediaLimitError, match="1000 frames per second is more than the 480"):
        probe(path)
    with pytest.raises(MediaLimitError, match="16x16 pixels is too small to click on"):
        probe(path, ProbeLimits(min_side=32))
