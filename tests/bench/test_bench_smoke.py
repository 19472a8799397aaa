"""Every benchmark runs, on a tiny input, and prints the JSON fields its README figures come
from (issue 18: no benchmark ran in CI, so a figure could rot unnoticed). A smoke run, not
a measurement: nothing here asserts a time or a ratio.

The erase and tracking-suite benchmarks have their own smoke tests beside their owners'."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _tiny_clip(path: Path) -> Path:
    """96x64, 12 frames of a moving square, H.264 with AAC audio (a clip's parts)."""
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        video = out.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 96, 64, "yuv420p"
        audio = out.add_stream("aac", rate=16000)
        for i in range(12):
            img = np.full((64, 96, 3), 40, np.uint8)
            img[20:44, 4 * i : 4 * i + 24] = 220
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            out.mux(video.encode(frame))
        for j in range(8):
            samples = np.zeros((1, 1024), np.float32)
            chunk = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 16000, j * 1024
            out.mux(audio.encode(chunk))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    return path


def _run(script: str, *args: str, timeout: float = 240) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "bench")},
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _has(result: dict[str, Any], *paths: str) -> None:
    """Each path (keys joined by "/") leads to a value (a number, a list or a mapping)."""
    for path in paths:
        node: Any = result
        for part in path.split("/"):
            assert isinstance(node, dict) and part in node, f"no {path!r} in {list(node)}"
            node = node[part]
        assert node is not None, path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_clip(tmp_path_factory.mktemp("bench") / "tiny.mp4")


def test_bench_click() -> None:
    got = _run("bench_click.py", "--smoke")
    assert got["clicks"] == 1
    _has(got, "encoder/median_s", "click_to_whole_object/max_s", "baseline_grabcut_480px/median_s")


def test_bench_preview() -> None:
    got = _run("bench_preview.py", "--smoke")
    assert got["bench"] == "preview" and got["clicks"] == 1
    _has(got, "first_click_s/median", "next_click_s/median")
    _has(got, "baseline_next_click_without_cache_s/median", "frame_s/max")


def test_bench_faces() -> None:
    got = _run("bench_faces.py", "--smoke")
    assert got["bench"] == "faces"
    ((clip, faces), (_, no_face)) = [
        (k, v) for k, v in got["quality"].items() if isinstance(v, dict)
    ][:2]
    assert faces["labelled_faces"] >= 1, clip
    _has(faces, "tapmask/face_pixels_hidden", "deface_defaults/face_pixels_hidden")
    _has(no_face, "tapmask/frame_hidden", "deface_defaults_every_10th_frame/frame_hidden")


def test_bench_tracking() -> None:
    got = _run("bench_tracking.py", "--smoke")
    for backend in ("cpu", "learned"):
        _has(got, f"davis_tennis/{backend}/mean_recall", f"synthetic/{backend}/mean_iou")
    _has(got, "davis_tennis/baseline_oracle_sam_gt_box/mean_recall")
    _has(got, "davis_tennis/learned_gap_to_oracle/met", "speed_720p")


def test_bench_tracking_sam2() -> None:
    # Random weights on the CPU at a quarter of SAM 2's input size: the real model at 1024
    # px takes minutes a frame here; the smoke run checks the bench, not the figure.
    got = _run(
        "bench_tracking_sam2.py",
        *("--short", "1", "--long", "2", "--device", "cpu"),
        *("--override", "++model.image_size=256"),
    )
    _has(got, "baseline_short", "long", "memory_window_frames")


def test_bench_process() -> None:
    got = _run(
        "bench_process.py", "--frames", "6", "--backends", "cpu", "--clips", "01_dog.mp4:dog"
    )
    _has(got, "01_dog.mp4/cpu", "01_dog.mp4/baseline_clip_fps")
    assert got["01_dog.mp4"]["frames"] == 6


def test_bench_render(tiny: Path) -> None:
    got = _run("bench_render.py", "--clip", str(tiny), "--repeat", "1", "--cores", "0")
    assert got["frames"] == 12
    _has(got, "baseline_ffmpeg_fps", "blur_ratio", "pixelate_cpu_ratio", "fill_fps")


def test_bench_memory(tiny: Path) -> None:
    got = _run("bench_memory.py", "--clip", str(tiny))
    assert got["clip_10s"]["frames"] == 12 and got["clip_60s"]["frames"] == 72
    _has(got, "baseline_peak_rss_10s_mib", "ratio_60s_over_10s")


@pytest.mark.integration
def test_bench_db_pool() -> None:
    got = _run("bench_db_pool.py", "--bursts", "1", "--rounds", "1")
    _has(got, "gateway_pool/p99_ms", "baseline_asyncpg_default_pool/p99_ms")


@pytest.mark.integration
def test_bench_api_load() -> None:
    got = _run("bench_api_load.py", "--smoke")
    _has(got, "first_request_128_new_clients_ms/p99", "steady/ms/all/p99")
    _has(got, "steady/ms/livez/p99", "targets/met")
    assert got["steady"]["ms"]["errors"] == {}


@pytest.mark.integration
def test_bench_preview_load() -> None:
    got = _run("bench_preview_load.py", "--smoke")
    _has(got, "baseline/health/p99", "flood/health/p99", "flood/non_preview_all/p99")
    _has(got, "flood/person_click_ms", "flood/flood_statuses", "rss_mb/settled/gateway")
    _has(got, "rss_mb/before_flood/workers", "targets/met/gateway_rss")
    assert set(got["flood"]["statuses"]) <= {"health 200", "limits 200", "presign 200", "video 200"}
