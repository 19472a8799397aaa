"""SAM 2 backend speed and memory on a real clip: is memory flat in the video's length?

Streams a clip (looped to reach the frame counts asked for) through the sam2 backend and
prints JSON: frames per second and peak memory (GPU when on CUDA, else host RSS growth)
for a short and a long run, measured in the same process — the short run is the
baseline the long run's memory must stay close to.

Without ``--checkpoint`` the weights are random: masks are meaningless, but the work per
frame, and so speed and memory, are the real ones.

Usage: .venv/bin/python bench/bench_tracking_sam2.py [--checkpoint sam2.1_hiera_tiny.pt]
       [--config configs/sam2.1/sam2.1_hiera_t.yaml] [--short 60] [--long 240]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import psutil
import torch

from tapmask_processing.tracking import DEFAULT_SAM2_CONFIG, Prompt
from tapmask_processing.tracking.sam2_backend import Sam2Tracker

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT / ".." / "shared" / "testdata" / "videos"
CLIP = "05_default_juggle.mp4"


def _frames(count: int, max_side: int) -> Iterator[npt.NDArray[np.uint8]]:
    """``count`` RGB frames of the clip, downscaled to ``max_side``, looping as needed."""
    produced = 0
    while produced < count:
        capture = cv2.VideoCapture(str(VIDEOS / CLIP))
        while produced < count:
            ok, bgr = capture.read()
            if not ok:
                break
            h, w = bgr.shape[:2]
            factor = min(1.0, max_side / max(h, w))
            if factor < 1.0:
                bgr = cv2.resize(bgr, (round(w * factor), round(h * factor)))
            produced += 1
            yield np.asarray(bgr[:, :, ::-1], dtype=np.uint8).copy()
        capture.release()


def _run(tracker: Sam2Tracker, count: int, click: tuple[float, float]) -> dict[str, float]:
    cuda = tracker.device.startswith("cuda")
    process = psutil.Process()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss_before = process.memory_info().rss
    rss_peak = rss_before
    start = time.perf_counter()
    done = 0
    for _ in tracker.track(_frames(count, tracker.max_side or 1024), [Prompt(*click)]):
        done += 1
        if done % 10 == 0:
            rss_peak = max(rss_peak, process.memory_info().rss)
    if cuda:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    result = {
        "frames": done,
        "fps": round(done / elapsed, 2),
        "host_rss_growth_mib": round((rss_peak - rss_before) / 2**20, 1),
    }
    if cuda:
        result["gpu_peak_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--config", default=DEFAULT_SAM2_CONFIG)
    parser.add_argument("--device", default=None)
    parser.add_argument("--short", type=int, default=60)
    parser.add_argument("--long", type=int, default=240)
    parser.add_argument(
        "--override", action="append", default=[], help="hydra override (e.g. image_size)"
    )
    args = parser.parse_args()
    tracker = Sam2Tracker.build(args.config, args.checkpoint, args.device, args.override)
    # The manifest's click on the person, in the frames' downscaled coordinates.
    scale = min(1.0, (tracker.max_side or 1024) / 1280)
    click = (707 * scale, 440 * scale)
    _run(tracker, 3, click)  # warm-up: kernels, allocator
    short = _run(tracker, args.short, click)
    long = _run(tracker, args.long, click)
    print(
        json.dumps(
            {
                "clip": CLIP,
                "device": tracker.device,
                "config": args.config,
                "checkpoint": str(args.checkpoint) if args.checkpoint else None,
                "memory_window_frames": tracker.window,
                "baseline_short": short,
                "long": long,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
