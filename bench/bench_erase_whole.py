"""Whole-video erase benchmark (issue 17): the eraser against today's window eraser.

Both run through ``render_video`` (decode, erase, encode) in the same run: the whole-video
eraser (the default) and the window eraser it replaced (``erase_window=24``, the old
default), on:

- ``real_dog``: 01_dog.mp4, static camera, where a clean plate exists (the video's median
  picture, see tests/e2e/test_erase_real.py). Three slices joined into one video (frames
  0-12, the dog out of the picture at 86-97, 140-160), with whole-dog masks from the
  segmenter prompted with hand-read boxes on keyframes (the e2e test's masks). Scored at
  hand-checked head and body points at frames 0 and 150 (40x40 patches: PSNR against the
  plate), and over every masked frame's hole where the plate is stable: PSNR and the share
  of erased pixels differing from the plate by more than 20 levels (any channel).
- ``real_dog_cli`` (not with --tiny): the whole video through ``tapmask process --mode
  erase`` with one click on the dog (the manifest's), i.e. the default tracker's masks,
  whole command timed; scored at the same points.
- ``panning``: generated panning clips over a static textured scene with exact masks and
  backgrounds (bench_erase's generator), input encoded at CRF 18; the re-encoding ceiling
  is the clean background sent through the same encode and render (hole PSNR).
- ``trackbench``: sequences of the tracking suite's generator (bench/trackbench: real
  footage under pan/zoom/shake with its own moving people, light changes, occluders, exact
  masks and the background rendered without the object), evaluation seeds.
- ``memory``: peak RSS and wall time of a whole erase job in a fresh process on 02_cups.mp4
  looped to 10 s and 60 s (a moving ellipse as the mask), for both erasers.

Prints one JSON object. Run: .venv/bin/python bench/bench_erase_whole.py [--tiny]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from bench_erase import parallax_clip, synthetic_clip
from numpy.typing import NDArray

from tapmask_processing.render import RenderMode, RenderOptions, render_video
from tapmask_processing.rendering.inpaint import DEFAULT_WINDOW, MASK_DILATION_PX

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT.parent / "shared" / "testdata" / "videos"
RGB = NDArray[np.uint8]
Mask = NDArray[np.bool_]

ERASERS = {"whole_video": None, "window_baseline": DEFAULT_WINDOW}
# (frame of 01_dog.mp4, part, x, y): the e2e test's hand-checked points.
POINTS = (
    (0, "head", 480, 400),
    (0, "body", 600, 430),
    (150, "head", 415, 425),
    (150, "body", 540, 470),
)
PATCH = 20
FAR_LEVEL = 20


def write(path: Path, frames: list[RGB], crf: int = 18) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def read(path: Path) -> list[RGB]:
    with av.open(str(path)) as c:
        return [np.asarray(f.to_ndarray(format="rgb24"), np.uint8) for f in c.decode(video=0)]


def erase(
    src: Path, masks: list[Mask], window: int | None, tmp: Path
) -> tuple[list[RGB], float, int]:
    """Erased frames, render seconds, frames reported invented."""
    out = tmp / f"{src.stem}-{window}.mp4"
    options = RenderOptions(mode=RenderMode.ERASE, erase_window=window)
    start = time.perf_counter()
    done = render_video(src, out, iter(masks), options)
    seconds = time.perf_counter() - start
    invented = sum(b - a + 1 for a, b in done.synthesized)
    return read(out), seconds, invented


def psnr(a: NDArray[Any], b: NDArray[Any]) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def holes(masks: list[Mask]) -> list[Mask]:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * MASK_DILATION_PX + 1,) * 2)
    return [np.asarray(cv2.dilate(m.astype(np.uint8), k), bool) for m in masks]


def hole_scores(outs: list[RGB], truth: list[RGB], where: list[Mask]) -> dict[str, float]:
    """PSNR over all hole pixels, and the share of them more than 20 levels off."""
    se, n, far = 0.0, 0, 0
    for out, clean, hole in zip(outs, truth, where, strict=True):
        if not hole.any():
            continue
        diff = out[hole].astype(np.float64) - clean[hole].astype(np.float64)
        se += float((diff**2).sum())
        n += diff.size
        far += int((np.abs(diff).max(axis=1) > FAR_LEVEL).sum())
    mse = se / max(n, 1)
    return {
        "hole_psnr_db": round(99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse), 2),
        "share_off_by_20": round(far / max(n // 3, 1), 4),
    }


def synthetic_set(tmp: Path, tiny: bool) -> dict[str, object]:
    size, frames = ((320, 180), 16) if tiny else ((640, 360), 60)
    pans = [(3.0, 1.0), (-2.0, 0.5)] if tiny else [(3.0, 1.0), (-2.0, 0.5), (1.0, 0.0), (0.5, -1.5)]
    clips = {
        f"pan_{px:g}_{py:g}": synthetic_clip(*size, frames, (px, py), seed=i)
        for i, (px, py) in enumerate(pans)
    }
    if not tiny:
        clips["static"] = synthetic_clip(*size, frames, (0.0, 0.0), seed=9)
        clips["two_plane_parallax"] = parallax_clip(*size, frames)
    result: dict[str, object] = {}
    gaps = []
    for name, clip in clips.items():
        src, clean_src = tmp / f"{name}.mp4", tmp / f"{name}-clean.mp4"
        write(src, [f for f, _, _ in clip])
        write(clean_src, [c for _, _, c in clip])
        masks = [m for _, m, _ in clip]
        truth = [c for _, _, c in clip]
        where = holes(masks)
        ceiling, _, _ = erase(clean_src, [np.zeros_like(m) for m in masks], None, tmp)
        row: dict[str, object] = {
            "frames": len(clip),
            "ceiling": hole_scores(ceiling, truth, where),
        }
        for label, window in ERASERS.items():
            outs, seconds, invented = erase(src, masks, window, tmp)
            row[label] = {
                **hole_scores(outs, truth, where),
                "render_s": round(seconds, 2),
                "frames_invented": invented,
            }
        result[name] = row
        if name.startswith("pan_"):
            top = row["ceiling"]["hole_psnr_db"]  # type: ignore[index]
            gaps.append(top - row["whole_video"]["hole_psnr_db"])  # type: ignore[index]
    result["panning_mean_gap_to_ceiling_db"] = round(float(np.mean(gaps)), 2)
    return result


def trackbench_set(tmp: Path, count: int) -> dict[str, object]:
    from trackbench.generate import generate, seeds

    rows: dict[str, object] = {}
    gaps: dict[str, list[float]] = {label: [] for label in ERASERS}
    for seed in seeds("evaluation")[:count]:
        seq = generate(seed)
        background = generate(seed, without_target=True).frames
        src, clean_src = tmp / f"tb{seed}.mp4", tmp / f"tb{seed}-clean.mp4"
        write(src, seq.frames)
        write(clean_src, background)
        where = holes(seq.masks)
        ceiling, _, _ = erase(clean_src, [np.zeros_like(m) for m in seq.masks], None, tmp)
        row: dict[str, object] = {
            "name": seq.name,
            "ceiling": hole_scores(ceiling, background, where),
        }
        for label, window in ERASERS.items():
            outs, seconds, invented = erase(src, seq.masks, window, tmp)
            row[label] = {
                **hole_scores(outs, background, where),
                "render_s": round(seconds, 2),
                "frames_invented": invented,
            }
            gaps[label].append(row["ceiling"]["hole_psnr_db"] - row[label]["hole_psnr_db"])  # type: ignore[index]
        rows[str(seed)] = row
    rows["mean_gap_to_ceiling_db"] = {k: round(float(np.mean(v)), 2) for k, v in gaps.items()}
    return rows


def point_scores(outs: list[RGB], index_of: dict[int, int], plate: RGB) -> dict[str, float]:
    got = {}
    for frame, part, x, y in POINTS:
        box = (slice(y - PATCH, y + PATCH), slice(x - PATCH, x + PATCH))
        got[f"{frame}_{part}_db"] = round(psnr(outs[index_of[frame]][box], plate[box]), 1)
    return got


def real_dog(tmp: Path) -> dict[str, object]:
    sys.path.insert(0, str(ROOT / "tests" / "e2e"))
    import test_erase_real as scene_of  # the e2e test's masks and plate

    scene = scene_of.build_scene(tmp)
    clip = scene.joined
    order = [*scene_of.START, *scene_of.ABSENT, *scene_of.MIDDLE]
    index_of = {f: i for i, f in enumerate(order)}
    where = [h & scene.stable for h in holes(clip.masks)]
    plate = [scene.clean] * len(order)
    result: dict[str, object] = {"frames": order and f"{len(order)} (0-12, 86-97, 140-160)"}
    result["input"] = point_scores(clip.frames, index_of, scene.clean)
    for label, window in ERASERS.items():
        outs, seconds, invented = erase(clip.path, clip.masks, window, tmp)
        result[label] = {
            **point_scores(outs, index_of, scene.clean),
            **hole_scores(outs, plate, where),
            "render_s": round(seconds, 2),
            "frames_invented": invented,
        }
    return {"result": result, "plate": scene.clean, "stable": scene.stable}


def real_dog_cli(tmp: Path, plate: RGB) -> dict[str, object]:
    video = VIDEOS / "01_dog.mp4"
    click = json.loads((VIDEOS / "manifest.json").read_text())["videos"]["01_dog.mp4"]["clicks"][
        "dog"
    ]
    exe = Path(sys.executable).parent / "tapmask"
    result: dict[str, object] = {"click": click}
    for label, extra in (
        ("whole_video", []),
        ("window_baseline", ["--erase-window", str(DEFAULT_WINDOW)]),
    ):
        out = tmp / f"dog-cli-{label}.mp4"
        start = time.perf_counter()
        done = subprocess.run(
            [
                str(exe),
                "process",
                str(video),
                "-o",
                str(out),
                "--point",
                f"{click[0]},{click[1]}",
                "--mode",
                "erase",
                *extra,
            ],
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            # The tracker is being rebuilt (issue 16): say so instead of losing the run.
            result[label] = {"error": done.stderr.strip().splitlines()[-3:]}
            continue
        outs = read(out)
        result[label] = {
            **point_scores(outs, {0: 0, 150: 150}, plate),
            "command_s": round(seconds, 1),
        }
    return result


_JOB = """
import resource, sys, time
from pathlib import Path
import cv2, numpy as np
from tapmask_media.probe import probe
from tapmask_processing.render import RenderMode, RenderOptions, render_video
clip, out, window = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
info = probe(clip)
def masks():
    for i in range(info.frame_count):
        m = np.zeros((info.height, info.width), np.uint8)
        cx = int(info.width * (0.25 + 0.5 * ((i % 300) / 299)))
        cv2.ellipse(m, (cx, info.height // 2), (info.width // 10, info.height // 5),
                    0, 0, 360, 1, -1)
        yield m.astype(bool)
t = time.perf_counter()
n = render_video(clip, out, masks(), RenderOptions(mode=RenderMode.ERASE,
                 erase_window=None if window == "none" else int(window)))
# VmHWM, not ru_maxrss: the latter survives exec and reports a large parent's peak.
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(n, hwm, time.perf_counter() - t)
"""


def memory(tmp: Path, tiny: bool, erasers: list[str], source_name: str) -> dict[str, object]:
    from bench_memory import loop_clip

    source = VIDEOS / "02_cups.mp4"
    if source_name == "generated":
        # A static camera over a textured scene: one background plane, so the whole-video
        # eraser runs (on 02_cups.mp4, with the hands moving the cups, 31 % of the masked
        # frames pass the one-plane test, so the job runs the window eraser).
        source = tmp / "generated.mp4"
        write(source, [f for f, _, _ in synthetic_clip(640, 360, 300, (0.0, 0.0), seed=4)])
    if tiny:
        source = tmp / "tiny.mp4"
        write(source, [f for f, _, _ in synthetic_clip(320, 180, 24, (2.0, 0.0), seed=5)])
    result: dict[str, object] = {"source": source.name}
    lengths = (("1x", 1), ("2x", 2)) if tiny else (("10s", 1), ("60s", 6))
    for seconds, times in lengths:
        clip = tmp / f"loop_{seconds}.mp4"
        loop_clip(source, clip, times)
        for label, window in ERASERS.items():
            if label not in erasers:
                continue
            done = subprocess.run(
                [sys.executable, "-c", _JOB, str(clip), str(tmp / "mem.mp4"), str(window).lower()],
                check=True,
                capture_output=True,
                text=True,
            )
            frames, rss, wall = done.stdout.split()
            print(label, seconds, done.stdout.strip(), file=sys.stderr, flush=True)
            result[f"{label}_{seconds}"] = {
                "frames": int(frames),
                "peak_rss_mib": round(int(rss) / 1024, 1),
                "render_s": round(float(wall), 1),
            }
    for label in erasers:
        a, b = (result[f"{label}_{s}"] for s, _ in lengths)
        result[f"{label}_ratio_long_to_short"] = round(b["peak_rss_mib"] / a["peak_rss_mib"], 3)  # type: ignore[index]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tiny", action="store_true", help="small synthetic inputs only (smoke test)"
    )
    parser.add_argument(
        "--trackbench", type=int, default=8, help="evaluation sequences of the tracking suite"
    )
    parser.add_argument("--skip", nargs="*", default=[], help="sections to leave out")
    parser.add_argument(
        "--memory-source",
        choices=["02_cups", "generated"],
        default="02_cups",
        help="the clip looped to 10 s and 60 s (generated: a static camera at 640x360)",
    )
    parser.add_argument(
        "--memory-erasers", nargs="*", default=list(ERASERS), help="erasers the memory jobs run"
    )
    args = parser.parse_args()
    result: dict[str, object] = {
        "measured": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "baseline": f"window eraser (erase_window={DEFAULT_WINDOW}), same run",
    }
    with tempfile.TemporaryDirectory(prefix="bench-erase-whole-") as tmp_s:
        tmp = Path(tmp_s)
        if "panning" not in args.skip:
            result["panning"] = synthetic_set(tmp, args.tiny)
        if not args.tiny and "real" not in args.skip:
            dog = real_dog(tmp)
            result["real_dog"] = dog["result"]
            if "cli" not in args.skip:
                result["real_dog_cli"] = real_dog_cli(tmp, dog["plate"])  # type: ignore[arg-type]
        if not args.tiny and "trackbench" not in args.skip and args.trackbench > 0:
            result["trackbench"] = trackbench_set(tmp, args.trackbench)
        if "memory" not in args.skip:
            result["memory"] = memory(tmp, args.tiny, args.memory_erasers, args.memory_source)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
