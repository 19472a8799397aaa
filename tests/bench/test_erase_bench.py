"""Smoke test of the erase benchmarks: they run on tiny inputs and print their figures.

Not a timing or quality assertion (the benchmarks measure those): the JSON has the fields
the README's erase rows are read from, each a number."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _run(script: str, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert isinstance(result, dict)
    return result


def _number(value: object) -> float:
    assert isinstance(value, int | float) and not isinstance(value, bool), value
    return float(value)


def test_bench_erase_whole_runs_on_tiny_inputs() -> None:
    result = _run("bench_erase_whole.py", "--tiny")
    assert {"measured", "baseline", "panning", "memory"} <= result.keys()
    panning = result["panning"]
    assert isinstance(panning, dict)
    _number(panning["panning_mean_gap_to_ceiling_db"])
    clips = {k: v for k, v in panning.items() if k.startswith("pan_")}
    assert clips
    for row in clips.values():
        for label in ("ceiling", "whole_video", "window_baseline"):
            _number(row[label]["hole_psnr_db"])
            _number(row[label]["share_off_by_20"])
        for label in ("whole_video", "window_baseline"):
            _number(row[label]["render_s"])
            _number(row[label]["frames_invented"])
    memory = result["memory"]
    assert isinstance(memory, dict)
    for label in ("whole_video", "window_baseline"):
        _number(memory[f"{label}_ratio_long_to_short"])
        for length in ("1x", "2x"):
            _number(memory[f"{label}_{length}"]["peak_rss_mib"])
            _number(memory[f"{label}_{length}"]["render_s"])


def test_bench_erase_runs_on_tiny_inputs() -> None:
    result = _run("bench_erase.py", "--frames", "6")
    quality = result["hole_psnr"]
    assert isinstance(quality, dict)
    assert {"static_camera", "panning_camera", "two_plane_parallax", "object_never_moves"} <= (
        quality.keys()
    )
    for row in quality.values():
        _number(row["erase_psnr_db"])
        _number(row["spatial_baseline_psnr_db"])
    speed = result["speed_1280x720"]
    assert isinstance(speed, dict)
    _number(speed["erase_fps"])
    _number(speed["spatial_baseline_fps"])
