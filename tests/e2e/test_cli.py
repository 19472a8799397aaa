"""The `tapmask` command as a user runs it: real clips in, checked video out, clear errors."""

from __future__ import annotations

import json
import subprocess
import tomllib
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from cli_helpers import frames_rgb, lap_var, process_with_masks, psnr, run_tapmask, write_disc_clip

from tapmask_media.masks import read_png_masks, write_png_masks
from tapmask_media.probe import probe

ROOT = Path(__file__).resolve().parents[2]
VIDEOS = ROOT / ".." / "shared" / "testdata" / "videos"


def moving_ellipse_masks(width: int, height: int, count: int) -> Iterator[np.ndarray]:
    """A ground-truth-like object: an ellipse sweeping across the frame."""
    for i in range(count):
        m = np.zeros((height, width), np.uint8)
        cx = int(width * (0.25 + 0.5 * i / max(1, count - 1)))
        cv2.ellipse(m, (cx, height // 2), (width // 10, height // 6), 0, 0, 360, 1, -1)
        yield m.astype(bool)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bedroom.mp4", "04_coffee.mp4"])
def test_blur_with_given_masks_keeps_video_properties(tmp_path: Path, name: str) -> None:
    src = VIDEOS / name
    info = probe(src)
    masks_dir = tmp_path / "masks"
    write_png_masks(masks_dir, moving_ellipse_masks(info.width, info.height, info.frame_count))
    out = tmp_path / "out.mp4"
    done = run_tapmask("process", src, "-o", out, "--masks", masks_dir, "--mode", "blur", "--json")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert events[-1]["event"] == "done" and events[-1]["frames"] == info.frame_count
    assert any(e["event"] == "progress" for e in events)

    got = probe(out)
    assert got.frame_count == info.frame_count
    assert (got.width, got.height) == (info.width, info.height)
    assert got.fps == info.fps
    assert abs(got.duration_s - info.duration_s) <= 1 / float(info.fps or Fraction(25))
    assert got.has_audio is info.has_audio
    assert (got.video_codec, got.pix_fmt) == ("h264", "yuv420p")

    masks = list(read_png_masks(masks_dir))
    detailed = 0
    for (i, a), (_, b) in zip(frames_rgb(src, 20), frames_rgb(out, 20), strict=True):
        mask = masks[i]
        near = cv2.dilate(mask.astype(np.uint8), np.ones((61, 61), np.uint8)) > 0
        assert psnr(a[~near], b[~near]) >= 30.0, f"frame {i}: the background changed"
        inner = cv2.erode(mask.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        # Where the masked area had texture to begin with, it must be gone.
        if lap_var(a, inner) > 40:
            detailed += 1
            assert lap_var(b, inner) < lap_var(a, inner) / 10, f"frame {i}: detail survived"
    assert detailed >= 3  # the check above really ran on textured content


def _synthetic_clip(
    path: Path, frames: int = 24, w: int = 256, h: int = 160, second: bool = False
) -> list[np.ndarray]:
    """A striped disc moving over a smooth background; returns the exact masks."""

    def disc_at(i: int, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
        cx, cy = 70 + 5 * i, 80 + int(10 * np.sin(i / 4))
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= 26**2
        if second:  # another striped disc, moving the other way
            disc |= (xx - (200 - 3 * i)) ** 2 + (yy - 40) ** 2 <= 18**2
        return disc

    return write_disc_clip(path, (w, h), frames, disc_at)


@pytest.mark.parametrize("mode", ["pixelate", "fill", "erase"])
def test_other_modes_hide_the_object(tmp_path: Path, mode: str) -> None:
    src = tmp_path / "disc.mp4"
    truth = _synthetic_clip(src)
    out = process_with_masks(src, truth, mode, tmp_path)
    assert probe(out).frame_count == len(truth)
    for (i, a), (_, b) in zip(frames_rgb(src, 6), frames_rgb(out, 6), strict=True):
        inner = cv2.erode(truth[i].astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        # The striped disc is gone: its red/yellow stripes no longer alternate.
        assert lap_var(b, inner) < lap_var(a, inner) / 10, f"{mode}: frame {i} still detailed"


def test_real_tracker_follows_and_blurs_the_clicked_object(tmp_path: Path) -> None:
    src = tmp_path / "disc.mp4"
    truth = _synthetic_clip(src)
    masks_dir = tmp_path / "masks"
    done = run_tapmask("masks", src, "--point", "70,80", "--out", masks_dir, "--backend", "cpu")
    assert done.returncode == 0, done.stderr
    got = list(read_png_masks(masks_dir, size=(256, 160)))
    assert len(got) == len(truth)
    recall = [float((g & t).sum() / t.sum()) for g, t in zip(got, truth, strict=True)]
    assert np.mean(recall) > 0.8, recall

    out = tmp_path / "out.mp4"
    done = run_tapmask("process", src, "-o", out, "--point", "70,80", "--mode", "blur")
    assert done.returncode == 0, done.stderr
    for (i, a), (_, b) in zip(frames_rgb(src, 6), frames_rgb(out, 6), strict=True):
        inner = cv2.erode(truth[i].astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        assert lap_var(b, inner) < lap_var(a, inner) / 10, f"frame {i}: object not hidden"


def test_two_points_hide_two_objects(tmp_path: Path) -> None:
    src = tmp_path / "two.mp4"
    truth = _synthetic_clip(src, frames=12, second=True)
    masks_dir = tmp_path / "masks"
    done = run_tapmask("masks", src, "--point", "70,80", "--point", "200,40", "--out", masks_dir)
    assert done.returncode == 0, done.stderr
    got = list(read_png_masks(masks_dir))
    yy, xx = np.mgrid[0:160, 0:256]
    for i in (0, 6, 11):
        small = truth[i] & ((xx - (200 - 3 * i)) ** 2 + (yy - 40) ** 2 <= 18**2)
        big = truth[i] & ~small
        assert (got[i] & big).sum() > 0.7 * big.sum(), f"frame {i}: first object missed"
        assert (got[i] & small).sum() > 0.7 * small.sum(), f"frame {i}: second object missed"


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48000)
        for i in range(10):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), "fltp", "mono")
            f.sample_rate, f.pts = 48000, i * 1024
            out.mux(stream.encode(f))
        out.mux(stream.encode(None))
    return path


def _bad_inputs(tmp: Path) -> dict[str, tuple[list[str | Path], str]]:
    (tmp / "empty.mp4").write_bytes(b"")
    (tmp / "notes.mp4").write_text("this is a text file\n" * 50)
    (tmp / "cut.mp4").write_bytes((VIDEOS / "01_dog.mp4").read_bytes()[:500_000])
    # A phone-style layout (index written last), cut inside the index.
    remux = ["ffmpeg", "-v", "error", "-i", str(VIDEOS / "01_dog.mp4"), "-c", "copy"]
    subprocess.run([*remux, "-movflags", "-faststart", str(tmp / "tail.mp4")], check=True)
    (tmp / "tailcut.mp4").write_bytes((tmp / "tail.mp4").read_bytes()[:-6000])
    bedroom = VIDEOS / "bedroom.mp4"
    out = tmp / "o.mp4"
    return {
        "zero-byte": (["process", tmp / "empty.mp4", "-o", out, "--point", "1,1"], "empty"),
        "text": (["process", tmp / "notes.mp4", "-o", out, "--point", "1,1"], "not a video"),
        "truncated": (["process", tmp / "cut.mp4", "-o", out, "--point", "1,1"], "truncated"),
        "truncated-index-last": (
            ["process", tmp / "tailcut.mp4", "-o", out, "--point", "1,1"],
            "truncated or incomplete",
        ),
        "missing": (["process", tmp / "nope.mp4", "-o", out, "--point", "1,1"], "no such file"),
        "no-video": (
            ["process", _audio_only(tmp / "a.mp4"), "-o", out, "--point", "1,1"],
            "no video stream",
        ),
        "outside": (
            ["process", bedroom, "-o", out, "--point", "2000,100"],
            "outside the 960x540 frame",
        ),
        "late-frame": (["process", bedroom, "-o", out, "--point", "10,10@5000"], "200 frames"),
        "syntax": (["process", bedroom, "-o", out, "--point", "ten,20"], "bad point"),
        "no-point": (["masks", bedroom, "--out", tmp / "m"], "no --point"),
    }


def test_bad_inputs_give_clear_errors(tmp_path: Path) -> None:
    for case, (args, message) in _bad_inputs(tmp_path).items():
        done = run_tapmask(*args, timeout=60)
        assert done.returncode != 0, case
        assert message in done.stderr, (case, done.stderr)
        assert "Traceback" not in done.stderr, case
        assert not (tmp_path / "o.mp4").exists(), case


def test_version_is_the_installed_distributions() -> None:
    declared = tomllib.loads((Path(__file__).parents[2] / "cli" / "pyproject.toml").read_text())
    result = run_tapmask("--version", timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"tapmask {declared['project']['version']}"
