"""Whole-job benchmark: ``tapmask process --mode blur`` at 720p, learned vs cpu tracker.

For each clip (``05_default_juggle.mp4`` clicking the juggler, ``01_dog.mp4`` clicking the
dog; the manifest's clicks) and each backend (``--backend learned``, ``--backend cpu``),
the whole CLI job runs in a fresh process, ``tapmask_cli.main.main([...])`` with the same
arguments as ``tapmask process IN -o OUT --point X,Y --mode blur --backend B --json``,
and reports:

- ``realtime_factor``: frames / wall seconds of the whole command (start-up, model
  loading and verification included) / the clip's own frame rate; the bar is > 1.
  ``job_realtime_factor`` counts only the job itself (tracking and rendering, which
  overlap: the tracker runs in the renderer's mask thread).
- ``peak_rss_mib``: the process's own peak RSS (``ru_maxrss``).
- ``s_per_frame``: where the time goes, measured in-process by wrapping the job's parts
  (no second run): busy seconds per frame of each part in its own thread (they run at
  the same time, so they do not add up to the wall time):
  ``decode_for_tracking`` (decode + resize to the tracker's size, prefetch thread),
  ``track`` (inside ``tracker.track``, waits for input frames excluded),
  ``render_decode`` (the renderer's decode, prefetch thread), ``render_main`` (blur,
  encode and mux: the render loop minus its waits), and ``render_wait_masks`` (the
  render loop waiting on the tracker: > 0 means tracking is the bottleneck).
- ``cpu_s_per_frame``: CPU seconds of the whole process (all threads) per frame, which
  hold up better than wall time on a shared machine (``load_avg_1m`` is printed).

Baselines in the same run: the cpu backend on the same clip, and the clip's own frame
rate (real time). ``--frames N`` cuts each clip to its first N frames (re-encoded, crf 18,
in a temporary folder); the default 0 runs whole clips.

``--backends learned@openvino`` runs the learned tracker with its SAM encoder on
OpenVINO (bfloat16 where the CPU has it; ``TAPMASK_SAM_ENCODER``), reported as
``sam_encoder``.

Run: .venv/bin/python bench/bench_process.py [--frames 0] [--backends learned,cpu]
     [--clips 05_default_juggle.mp4:person,01_dog.mp4:dog]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
from measured import tracker_source

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT.parent / "shared" / "testdata" / "videos"
CLIPS = (("05_default_juggle.mp4", "person"), ("01_dog.mp4", "dog"))

# Runs in the child: the CLI job with its parts timed by wrappers around the functions
# the job looks up at call time (module attributes), so nothing in the job changes.
_JOB = r"""
import json, resource, sys, time
from collections import defaultdict

T = defaultdict(float)
t_start = time.perf_counter()

import tapmask_processing.render as rp
import tapmask_processing.tracking as core
import tapmask_processing.track as tp
from tapmask_cli import main as cli


def timed(items, key, sink=None):
    it = iter(items)
    try:
        while True:
            t0 = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                return
            finally:
                T[key] += time.perf_counter() - t0
            yield item
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


orig_rgb = tp.iter_rgb_frames
tp.iter_rgb_frames = lambda *a, **k: timed(orig_rgb(*a, **k), "decode_for_tracking")
orig_frames = rp.iter_video_frames
rp.iter_video_frames = lambda *a, **k: timed(orig_frames(*a, **k), "render_decode")
orig_prefetch = rp.prefetch
calls = []


def prefetch(items, depth=8):
    # render_video prefetches the masks first, then the decoded frames.
    key = ("render_wait_masks", "render_wait_frames")[min(len(calls), 1)]
    calls.append(key)
    return timed(orig_prefetch(items, depth), key)


rp.prefetch = prefetch
orig_render = rp.render_video


def render_video(*a, **k):
    t0 = time.perf_counter()
    try:
        return orig_render(*a, **k)
    finally:
        T["render_video"] += time.perf_counter() - t0


cli.render_video = render_video
orig_build = core.build_tracker
trackers = []


def build_tracker(*a, **k):
    t0 = time.perf_counter()
    tracker = orig_build(*a, **k)
    T["tracker_build"] += time.perf_counter() - t0
    trackers.append(tracker)
    orig_track = tracker.track

    def track(frames, prompts):
        yield from timed(orig_track(timed(frames, "track_wait_frames"), prompts), "track_call")

    tracker.track = track
    return tracker


core.build_tracker = build_tracker
code = cli.main(sys.argv[1:])
T["main"] = time.perf_counter() - t_start
usage = resource.getrusage(resource.RUSAGE_SELF)
extra = {
    "rc": code,
    "peak_rss_kib": usage.ru_maxrss,
    "cpu_s": usage.ru_utime + usage.ru_stime,
    "keyframes": getattr(trackers[0], "keyframes", None) if trackers else None,
    "sam_encoder": getattr(getattr(trackers[0], "_sam", None), "encoder_runtime", None)
    if trackers else None,
}
print("BENCH " + json.dumps({**T, **extra}), flush=True)
"""


def cut_clip(src: Path, dst: Path, frames: int) -> None:
    """The first ``frames`` frames of ``src`` (video only), timing kept."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        assert vin.time_base is not None
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


def run_job(clip: Path, out: Path, point: str, backend: str) -> dict[str, object]:
    """``backend`` is a ``--backend`` value, or ``learned@RUNTIME`` for the learned
    tracker with its SAM encoder on RUNTIME (``TAPMASK_SAM_ENCODER``)."""
    backend, _, encoder = backend.partition("@")
    env = {**os.environ, "TAPMASK_SAM_ENCODER": encoder} if encoder else None
    argv = ["process", str(clip), "-o", str(out), "--point", point, "--mode", "blur"]
    argv += ["--backend", backend, "--json"]
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _JOB, *argv], capture_output=True, text=True, check=False,
        env=env,
    )
    wall = time.perf_counter() - start
    lines = done.stdout.splitlines()
    bench = [json.loads(line[6:]) for line in lines if line.startswith("BENCH ")]
    result = [json.loads(line) for line in lines if line.startswith('{"event": "done"')]
    if done.returncode != 0 or not bench or not result or bench[0]["rc"] != 0:
        # Reported, not fatal: the other jobs still say how they did.
        print(f"tapmask {' '.join(argv)} failed:\n{done.stderr}", file=sys.stderr)
        errors = [ln for ln in done.stderr.splitlines() if ln and not ln.startswith(" ")]
        return {"error": errors[-1] if errors else f"exit status {done.returncode}"}
    return {"wall_s": wall, **bench[0], "result": result[0]}


def summarize(job: dict[str, object], frames: int, fps: float) -> dict[str, object]:
    if "error" in job:
        return {"error": job["error"]}
    t = {k: float(v) for k, v in job.items() if isinstance(v, (int, float))}
    result = job["result"]
    assert isinstance(result, dict)
    per_frame = {
        "decode_for_tracking": t.get("decode_for_tracking", 0.0),
        "track": t.get("track_call", 0.0) - t.get("track_wait_frames", 0.0),
        "render_decode": t.get("render_decode", 0.0),
        "render_main": t["render_video"]
        - t.get("render_wait_masks", 0.0)
        - t.get("render_wait_frames", 0.0),
        "render_wait_masks": t.get("render_wait_masks", 0.0),
    }
    return {
        "wall_s": round(t["wall_s"], 2),
        "process_fps": round(frames / t["wall_s"], 2),
        "realtime_factor": round(frames / t["wall_s"] / fps, 3),
        "job_realtime_factor": round(frames / t["render_video"] / fps, 3),
        "startup_s": round(t["wall_s"] - t["render_video"], 2),
        "tracker_build_s": round(t.get("tracker_build", 0.0), 2),
        "peak_rss_mib": round(t["peak_rss_kib"] / 1024, 1),
        "cpu_s_per_frame": round(t["cpu_s"] / frames, 4),
        "s_per_frame": {k: round(v / frames, 4) for k, v in per_frame.items()},
        "keyframes": job.get("keyframes"),
        "sam_encoder": job.get("sam_encoder"),
        "tracker_backend": result.get("tracker_backend"),
        "review": [[r["start_frame"], r["end_frame"]] for r in result.get("review", [])],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=0, help="first N frames only (0: all)")
    ap.add_argument("--backends", default="learned,cpu")
    ap.add_argument(
        "--clips",
        default=",".join(f"{n}:{o}" for n, o in CLIPS),
        help="CLIP:OBJECT,... (testdata clips and their manifest click)",
    )
    args = ap.parse_args()
    from tapmask_media.probe import probe

    manifest = json.loads((VIDEOS / "manifest.json").read_text())["videos"]
    report: dict[str, object] = {
        "cpu_count": os.cpu_count(),
        "load_avg_1m_start": round(os.getloadavg()[0], 2),
        "tracker_source": tracker_source(),
        "note": "realtime_factor: wall clock of the whole command, start-up included",
    }
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        for name, label in (c.split(":", 1) for c in args.clips.split(",")):
            clip = VIDEOS / name
            if args.frames:
                clip = tmp / f"cut_{name}"
                cut_clip(VIDEOS / name, clip, args.frames)
            info = probe(clip)
            fps = float(info.fps) if info.fps else 25.0
            x, y = manifest[name]["clicks"][label]
            entry: dict[str, object] = {
                "click": {label: [x, y]},
                "frames": info.frame_count,
                "size": [info.width, info.height],
                "baseline_clip_fps": round(fps, 3),
            }
            for backend in args.backends.split(","):
                job = run_job(clip, tmp / f"{backend}.mp4", f"{x},{y}", backend)
                entry[backend] = summarize(job, info.frame_count, fps)
            report[name] = entry
    report["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
