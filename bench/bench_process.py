"""Whole-job benchmark: ``tapmask process --mode blur`` with the cpu tracker on a 720p clip.

Measures processing frame rate against the clip's own (real-time) frame rate, plus the
two halves separately to show where the time goes: tracking alone (``tapmask masks``)
and rendering alone (``tapmask process --masks``, the tracker's masks from the first run).
The clip is the first ``--frames`` frames of a testdata clip, re-encoded (crf 18) into a
temporary folder so runs stay short; ``--frames 0`` uses the whole clip.

Prints one JSON object; the bar is realtime_factor = process_fps / clip_fps > 1.

Run: .venv/bin/python bench/bench_process.py [--clip PATH] [--frames 150] [--point X,Y]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT.parent / "shared" / "testdata" / "videos"
TAPMASK = Path(sys.executable).parent / "tapmask"


def cut_clip(src: Path, dst: Path, frames: int) -> None:
    """The first ``frames`` frames of ``src`` (video only), timing kept."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream("libx264", rate=vin.average_rate, options={"crf": "18"})
        vout.width, vout.height, vout.pix_fmt = vin.width, vin.height, "yuv420p"
        vout.time_base = vin.time_base
        vout.codec_context.time_base = vin.time_base
        for i, frame in enumerate(inp.decode(vin)):
            if i >= frames:
                break
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(vout.encode(frame))
        out.mux(vout.encode(None))


def run(*args: str | Path) -> float:
    t = time.perf_counter()
    done = subprocess.run(
        [str(TAPMASK), *map(str, args), "--json"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"tapmask failed: {done.stderr}")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", type=Path, default=VIDEOS / "05_default_juggle.mp4")
    ap.add_argument("--point", default="707,440", help="click (default: the juggler)")
    ap.add_argument("--frames", type=int, default=150)
    args = ap.parse_args()
    from tapmask_media.probe import probe

    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        clip = args.clip
        if args.frames:
            clip = tmp / "clip.mp4"
            cut_clip(args.clip, clip, args.frames)
        info = probe(clip)
        fps = float(info.fps or Fraction(25))
        n = info.frame_count
        common = ["--point", args.point, "--backend", "cpu"]
        t_track = run("masks", clip, "--out", tmp / "masks", *common)
        t_render = run("process", clip, "-o", tmp / "r.mp4", "--masks", tmp / "masks")
        t_full = run("process", clip, "-o", tmp / "p.mp4", "--mode", "blur", *common)
    print(
        json.dumps(
            {
                "clip": args.clip.name,
                "frames": n,
                "size": [info.width, info.height],
                "cpu_count": os.cpu_count(),
                "load_avg_1m": round(os.getloadavg()[0], 2),
                "baseline_clip_fps": round(fps, 3),
                "process_fps": round(n / t_full, 2),
                "realtime_factor": round(n / t_full / fps, 3),
                "tracking_only_fps": round(n / t_track, 2),
                "render_only_fps": round(n / t_render, 2),
                "note": "wall clock of the tapmask command, start-up included",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
