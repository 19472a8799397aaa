"""Memory benchmark: peak RSS of a blur job on a 60 s clip vs the same job on a 10 s clip.

Both clips are made by remuxing a testdata clip (02_cups.mp4, 10 s 720p with audio) 1x and
6x end to end into /tmp (packets copied with shifted timestamps, no re-encode). Each job
runs ``render_video`` in a fresh process with streamed masks (a moving ellipse) and
reports its own peak RSS (``ru_maxrss``). The 10 s job is the baseline; the bar is
peak_60s / peak_10s <= 1.2 (memory must not grow with video length).

Run: .venv/bin/python bench/bench_memory.py [--mode blur]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "testdata" / "videos" / "02_cups.mp4"


def loop_clip(src: Path, dst: Path, times: int) -> None:
    """Concatenate ``src`` ``times`` times by remuxing its packets with shifted timestamps."""
    with av.open(str(src)) as probe_in:
        streams = [s for s in probe_in.streams if s.type in ("video", "audio")]
        # Each stream's own length (in its time base) sets its shift per loop.
        lengths = {}
        for s in streams:
            start, end = None, 0
            for p in probe_in.demux(s):
                if p.dts is not None:
                    start = p.dts if start is None else min(start, p.dts)
                    end = max(end, p.dts + (p.duration or 0))
            lengths[s.index] = end - (start or 0)
            probe_in.seek(0)
    with av.open(str(dst), "w") as out:
        with av.open(str(src)) as first:
            mapping = {
                s.index: out.add_stream_from_template(s)
                for s in first.streams
                if s.type in ("video", "audio")
            }
        for k in range(times):
            with av.open(str(src)) as inp:
                for p in inp.demux([inp.streams[i] for i in mapping]):
                    if p.dts is None:
                        continue
                    shift = k * lengths[p.stream.index]
                    p.pts = None if p.pts is None else p.pts + shift
                    p.dts = p.dts + shift
                    p.stream = mapping[p.stream.index]
                    out.mux(p)


_JOB = """
import resource, sys
from pathlib import Path
import cv2, numpy as np
from tapmask_media.probe import probe
from tapmask_processing.render import RenderMode, RenderOptions, render_video
clip, out, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
info = probe(clip)
def masks():
    for i in range(info.frame_count):
        m = np.zeros((info.height, info.width), np.uint8)
        cx = int(info.width * (0.25 + 0.5 * ((i % 300) / 299)))
        cv2.ellipse(m, (cx, info.height // 2), (info.width // 10, info.height // 5),
                    0, 0, 360, 1, -1)
        yield m.astype(bool)
n = render_video(clip, out, masks(), RenderOptions(mode=RenderMode(mode)))
print(n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_kib(clip: Path, out: Path, mode: str) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", _JOB, str(clip), str(out), mode],
        check=True,
        capture_output=True,
        text=True,
    )
    frames, rss = done.stdout.split()
    return int(frames), int(rss)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", default="blur")
    ap.add_argument("--clip", type=Path, default=CLIP)
    args = ap.parse_args()
    from tapmask_media.probe import probe

    result: dict[str, object] = {"mode": args.mode, "source": args.clip.name}
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        peaks = {}
        for seconds, times in (("10s", 1), ("60s", 6)):
            clip = tmp / f"loop_{seconds}.mp4"
            loop_clip(args.clip, clip, times)
            info = probe(clip)
            frames, rss = peak_rss_kib(clip, tmp / f"out_{seconds}.mp4", args.mode)
            peaks[seconds] = rss
            result[f"clip_{seconds}"] = {
                "duration_s": round(info.duration_s, 2),
                "frames": frames,
                "peak_rss_mib": round(rss / 1024, 1),
            }
    result["baseline_peak_rss_10s_mib"] = round(peaks["10s"] / 1024, 1)
    result["ratio_60s_over_10s"] = round(peaks["60s"] / peaks["10s"], 3)
    result["bar_ratio"] = 1.2
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
