"""Tracking quality and speed of the cpu tracker, with baselines measured in the same run.

Prints JSON:
- ``davis_tennis``: per-frame mask IoU and recall (share of the true object covered) of
  the cpu tracker on the 70 DAVIS tennis frames from one click (the deepest point of the
  frame-0 ground truth), next to the trivial tracker (a fixed disc of the object's area
  at the click); its ground truth holds the player *and his shadow*, dilated.
- ``synthetic``: the same on the tests' synthetic clip with exact masks and an occlusion.
- ``speed_720p``: tracker frames per second (and CPU ms per frame, all threads) on a real
  720p clip given at full size (the tracker downscales to its working size itself;
  decode excluded), against the clip's own frame rate (real time) and the decoder's
  rate in the same run.

Usage: .venv/bin/python bench/bench_tracking.py [--frames N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "unit" / "tracker"))

from tracker_clips import center_click, fixed_disc, iou, load_davis, make_clip, recall  # noqa: E402

from tapmask_tracker.core import Prompt  # noqa: E402
from tapmask_tracker.core.cpu_backend import CpuTracker  # noqa: E402

VIDEOS = ROOT / ".." / "shared" / "testdata" / "videos"

Masks = list[npt.NDArray[np.bool_]]


def _summary(pred: Masks, truth: Masks) -> dict[str, float]:
    ious = [iou(p, t) for p, t in zip(pred, truth, strict=True)]
    recalls = [recall(p, t) for p, t in zip(pred, truth, strict=True)]
    return {
        "mean_iou": round(float(np.mean(ious)), 3),
        "min_iou": round(float(np.min(ious)), 3),
        "mean_recall": round(float(np.mean(recalls)), 3),
        "min_recall": round(float(np.min(recalls)), 3),
    }


def _quality(
    frames: list[npt.NDArray[np.uint8]], truth: Masks, click: tuple[float, float]
) -> dict[str, object]:
    tracker = CpuTracker()
    start = time.perf_counter()
    masks = list(tracker.track(frames, [Prompt(*click)]))
    elapsed = time.perf_counter() - start
    disc = fixed_disc(truth[0].shape, click, int(truth[0].sum()))
    return {
        "frames": len(frames),
        "size": [int(frames[0].shape[1]), int(frames[0].shape[0])],
        "click": [click[0], click[1]],
        "cpu": {**_summary(masks, truth), "fps": round(len(frames) / elapsed, 1)},
        "baseline_fixed_disc": _summary([disc] * len(truth), truth),
    }


def _speed(limit: int) -> dict[str, object]:
    name = "05_default_juggle.mp4"
    manifest = json.loads((VIDEOS / "manifest.json").read_text())["videos"][name]
    click = manifest["clicks"]["person"]
    capture = cv2.VideoCapture(str(VIDEOS / name))
    decode_time = decode_cpu = 0.0

    def frames() -> Iterator[npt.NDArray[np.uint8]]:
        nonlocal decode_time, decode_cpu
        for _ in range(limit):
            start, start_cpu = time.perf_counter(), time.process_time()
            ok, bgr = capture.read()
            if not ok:
                return
            rgb = np.asarray(bgr[:, :, ::-1], dtype=np.uint8).copy()
            decode_time += time.perf_counter() - start
            decode_cpu += time.process_time() - start_cpu
            yield rgb

    tracker = CpuTracker()
    count = 0
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in tracker.track(frames(), [Prompt(float(click[0]), float(click[1]))]):
        count += 1
    total = time.perf_counter() - start
    total_cpu = time.process_time() - start_cpu
    capture.release()
    tracking = total - decode_time
    # CPU seconds (all threads) hold up better than wall time on a shared machine.
    tracking_cpu = total_cpu - decode_cpu
    return {
        "clip": name,
        "size": manifest["size"],
        "frames": count,
        "working_max_side": tracker.max_side,
        "tracker_fps": round(count / tracking, 1),
        "ms_per_frame": round(1000 * tracking / count, 2),
        "cpu_ms_per_frame": round(1000 * tracking_cpu / count, 2),
        "baseline_realtime_fps": round(float(Fraction(manifest["fps"])), 3),
        "baseline_decode_fps": round(count / decode_time, 1),
        "baseline_decode_cpu_ms_per_frame": round(1000 * decode_cpu / count, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150, help="720p frames to time")
    args = parser.parse_args()
    cv2.setNumThreads(2)
    frames, truth = load_davis()
    clip = make_clip()
    result = {
        "davis_tennis": _quality(frames, truth, center_click(truth[0])),
        "synthetic": _quality(clip.frames, clip.masks, clip.click),
        "speed_720p": _speed(args.frames),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
