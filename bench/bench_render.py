"""Render benchmark: blur / pixelate / fill with given masks vs plain ffmpeg re-encoding.

Baseline, measured in the same run on the same clip and machine:
``ffmpeg -i IN -c:v libx264 -preset veryfast -crf 23 -c:a copy OUT`` (the ffmpeg CLI is
only needed here, never by the product). Both run pinned to the same cores (default 2).
Masks: a moving ellipse (~5% of the frame) read from a ``.tmask`` stream, as the renderer
service reads the tracker's output. Each configuration runs ``--repeat`` times,
interleaved, and the best run counts (the machine is shared; best-of filters noise).

Prints one JSON object: fps of ffmpeg and of each mode (wall clock), mode_fps / ffmpeg_fps,
and the same per CPU-second. Bar: ratio >= 0.8.

Run: .venv/bin/python bench/bench_render.py [--clip PATH] [--repeat 2] [--cores 0,1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "testdata" / "videos" / "02_cups.mp4"


def write_masks(path: Path, width: int, height: int, count: int) -> None:
    from tapmask_media.masks import write_mask_stream

    def masks():  # type: ignore[no-untyped-def]
        for i in range(count):
            m = np.zeros((height, width), np.uint8)
            cx = int(width * (0.25 + 0.5 * i / max(1, count - 1)))
            cv2.ellipse(m, (cx, height // 2), (width // 10, height // 5), 0, 0, 360, 1, -1)
            yield m.astype(bool)

    write_mask_stream(path, masks(), width, height)


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_ffmpeg(clip: Path, out: Path, cores: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of the ffmpeg baseline."""
    cmd = ["taskset", "-c", cores, "ffmpeg", "-v", "error", "-y", "-i", str(clip)]
    cmd += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-c:a", "copy", str(out)]
    cpu, t = _cpu_children(), time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t, _cpu_children() - cpu


_RENDER = """
import resource, sys, time
from pathlib import Path
from tapmask_media.masks import read_mask_stream
from tapmask_processing.render import RenderMode, RenderOptions, render_video
clip, masks, out, mode = sys.argv[1:5]
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
c, t = cpu(), time.perf_counter()
render_video(Path(clip), Path(out), read_mask_stream(Path(masks)),
             RenderOptions(mode=RenderMode(mode)))
print(time.perf_counter() - t, cpu() - c)
"""


def run_mode(clip: Path, masks: Path, out: Path, mode: str, cores: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``render_video`` (probe, decode, masks, effect,
    encode, audio copy).

    A fresh process per run, pinned like ffmpeg; Python's start-up and imports (~0.4 CPU-s)
    are left out, as a service pays them once, not per job."""
    cmd = ["taskset", "-c", cores, sys.executable, "-c", _RENDER]
    cmd += [str(clip), str(masks), str(out), mode]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    wall, cpu = done.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", type=Path, default=CLIP)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--cores", default="0,1")
    args = ap.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("the baseline needs the ffmpeg CLI: apt-get install -y ffmpeg")
    from tapmask_media.probe import probe

    info = probe(args.clip)
    modes = ["blur", "pixelate", "fill"]
    best: dict[str, float] = {}
    best_cpu: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        masks = tmp / "masks.tmask"
        write_masks(masks, info.width, info.height, info.frame_count)
        for _ in range(args.repeat):
            for name in ["ffmpeg", *modes]:
                out = tmp / f"{name}.mp4"
                if name == "ffmpeg":
                    secs, cpu = run_ffmpeg(args.clip, out, args.cores)
                else:
                    secs, cpu = run_mode(args.clip, masks, out, name, args.cores)
                best[name] = min(best.get(name, float("inf")), secs)
                best_cpu[name] = min(best_cpu.get(name, float("inf")), cpu)
    fps = {k: info.frame_count / v for k, v in best.items()}
    cpu_fps = {k: info.frame_count / v for k, v in best_cpu.items()}
    print(
        json.dumps(
            {
                "clip": args.clip.name,
                "size": [info.width, info.height],
                "frames": info.frame_count,
                "cores": args.cores,
                "cpu_count": os.cpu_count(),
                "load_avg_1m": round(os.getloadavg()[0], 2),
                "baseline_ffmpeg_fps": round(fps["ffmpeg"], 1),
                **{f"{m}_fps": round(fps[m], 1) for m in modes},
                **{f"{m}_ratio": round(fps[m] / fps["ffmpeg"], 3) for m in modes},
                # Frames per CPU-second: less sensitive to other load on a shared machine.
                "baseline_ffmpeg_frames_per_cpu_s": round(cpu_fps["ffmpeg"], 1),
                **{f"{m}_frames_per_cpu_s": round(cpu_fps[m], 1) for m in modes},
                **{f"{m}_cpu_ratio": round(cpu_fps[m] / cpu_fps["ffmpeg"], 3) for m in modes},
                "bar_ratio": 0.8,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
