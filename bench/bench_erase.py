"""Erase (video inpainting) benchmark: quality and speed against a spatial-only baseline.

Prints one JSON object:
- PSNR inside the masked (dilated) region against the known clean background, on
  synthetic clips (static camera, panning camera, two-plane parallax, and an object that
  never moves, where nothing shows the background), with the frames the eraser reported
  as invented, for
  `erase_stream` and for a per-frame cv2.inpaint (Telea) baseline measured in the same
  run, and the window size trade-off;
- frames per second of both at 1280x720 with a moving object (~5% of the frame), on a
  synthetic clip and on real 720p footage (01_dog.mp4, a moving ellipse as the mask);
- optionally (--davis) a before/after PNG pair of the DAVIS tennis clip under /tmp.

Run: .venv/bin/python bench/bench_erase.py [--frames N] [--davis]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from tapmask_processing.rendering.inpaint import MASK_DILATION_PX, erase_stream

ROOT = Path(__file__).resolve().parents[1]
DAVIS = ROOT.parent / "shared" / "testdata" / "davis-tennis"
VIDEOS = ROOT.parent / "shared" / "testdata" / "videos"

Clip = list[tuple[NDArray[np.uint8], NDArray[np.bool_], NDArray[np.uint8]]]


def textured_background(width: int, height: int, seed: int) -> NDArray[np.uint8]:
    """Multi-scale coloured noise with hard-edged shapes: spatial fills cannot guess it."""
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), dtype=np.float32)
    for cell, amp in ((64, 70.0), (16, 40.0), (4, 25.0)):
        small = rng.random((height // cell + 2, width // cell + 2, 3), dtype=np.float32)
        img += (
            amp * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)[:height, :width]
        )
    for _ in range(width * height // 4000):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        colour = tuple(float(c) for c in rng.integers(0, 255, 3))
        cv2.rectangle(
            img, (x, y), (x + int(rng.integers(4, 40)), y + int(rng.integers(4, 40))), colour, -1
        )
    return np.clip(img, 0, 255).astype(np.uint8)


def synthetic_clip(
    width: int, height: int, frames: int, pan: tuple[float, float], seed: int = 0
) -> Clip:
    """(frame, exact object mask, clean background) triples.

    The camera pans `pan` pixels per frame over a larger textured scene; an ellipse with
    its own texture crosses the frame, moving against the pan.
    """
    margin_x = int(abs(pan[0]) * frames) + 2
    margin_y = int(abs(pan[1]) * frames) + 2
    scene = textured_background(width + margin_x, height + margin_y, seed)
    texture = textured_background(width, height, seed + 1)
    rng = np.random.default_rng(seed + 2)
    axes = (width // 10, height // 6)
    out: Clip = []
    for i in range(frames):
        ox = margin_x // 2 + pan[0] * (i - frames / 2)
        oy = margin_y // 2 + pan[1] * (i - frames / 2)
        m = np.array([[1, 0, -ox], [0, 1, -oy]], dtype=np.float32)
        clean = cv2.warpAffine(scene, m, (width, height), flags=cv2.INTER_LINEAR)
        cx = int(width * (0.25 + 0.5 * i / max(1, frames - 1)))
        cy = int(height * 0.5 + height * 0.1 * np.sin(i / 5))
        mask = np.zeros((height, width), dtype=np.uint8)
        cv2.ellipse(mask, (cx, cy), axes, float(rng.integers(0, 30)), 0, 360, 1, -1)
        frame = clean.copy()
        frame[mask > 0] = texture[mask > 0]
        out.append((np.asarray(frame, np.uint8), mask > 0, np.asarray(clean, np.uint8)))
    return out


def still_object_clip(width: int, height: int, frames: int, seed: int = 0) -> Clip:
    """An object that never moves on a still camera: no frame shows what is behind it,
    so every erased pixel is invented (spatial fill) and every frame is reported."""
    moving = synthetic_clip(width, height, frames, (0.0, 0.0), seed)
    mask = moving[0][1]
    return [(np.where(mask[..., None], f, c), mask, c) for (f, _, c) in [moving[0]] * frames]


def parallax_clip(width: int, height: int, frames: int, seed: int = 0) -> Clip:
    """Two background planes: the far (top) half slides 1 px per frame, the near half 3 px."""
    far = textured_background(width + 4 * frames, height, seed)
    near = textured_background(width + 4 * frames, height, seed + 1)
    texture = textured_background(width, height, seed + 2)
    axes = (width // 10, height // 6)
    out: Clip = []
    for i in range(frames):
        clean = np.ascontiguousarray(
            np.vstack(
                [far[: height // 2, i : i + width], near[height // 2 :, 3 * i : 3 * i + width]]
            )
        )
        cx = int(width * (0.25 + 0.5 * i / max(1, frames - 1)))
        mask = np.zeros((height, width), dtype=np.uint8)
        cv2.ellipse(mask, (cx, height // 2), axes, 0, 0, 360, 1, -1)
        frame = clean.copy()
        frame[mask > 0] = texture[mask > 0]
        out.append((np.asarray(frame, np.uint8), mask > 0, np.asarray(clean, np.uint8)))
    return out


def real_footage(path: Path, frames: int) -> Clip:
    """The first frames of a real video with a moving ellipse mask (no ground truth:
    the clean background is the frame itself, so only speed is read from it)."""
    import av  # the benchmark decodes; the eraser itself never does I/O

    out: Clip = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= frames:
                break
            rgb = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
            h, w = rgb.shape[:2]
            mask = np.zeros((h, w), dtype=np.uint8)
            centre = (int(w * (0.3 + 0.4 * i / frames)), h // 2)
            cv2.ellipse(mask, centre, (w // 14, h // 6), 0, 0, 360, 1, -1)
            out.append((rgb, mask > 0, rgb))
    return out


def spatial_baseline(
    items: Iterator[tuple[NDArray[np.uint8], NDArray[np.bool_]]],
) -> Iterator[NDArray[np.uint8]]:
    """Per-frame Telea inpainting of the same dilated mask: the naive eraser."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * MASK_DILATION_PX + 1,) * 2)
    for frame, mask in items:
        hole = cv2.dilate(mask.astype(np.uint8), k)
        yield np.asarray(cv2.inpaint(frame, hole, 5, cv2.INPAINT_TELEA), np.uint8)


def hole_psnr(clip: Clip, outputs: list[NDArray[np.uint8]]) -> float:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * MASK_DILATION_PX + 1,) * 2)
    se, count = 0.0, 0
    for (_, mask, clean), out in zip(clip, outputs, strict=True):
        hole = cv2.dilate(mask.astype(np.uint8), k) > 0
        diff = out[hole].astype(np.float64) - clean[hole].astype(np.float64)
        se += float((diff**2).sum())
        count += diff.size
    return float(10 * np.log10(255.0**2 / max(se / max(count, 1), 1e-12)))


def run(
    method: str, clip: Clip, window: int | None = None
) -> tuple[list[NDArray[np.uint8]], float]:
    pairs = ((f, m) for f, m, _ in clip)
    start = time.perf_counter()
    gen = erase_stream(pairs, window=window) if method == "erase" else spatial_baseline(pairs)
    outputs = list(gen)
    return outputs, time.perf_counter() - start


def read_rgb(path: Path) -> NDArray[np.uint8]:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"cannot read {path}")
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), np.uint8)


def read_mask(path: Path) -> NDArray[np.bool_]:
    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise SystemExit(f"cannot read {path}")
    return np.asarray(grey > 127, dtype=bool)


def davis_pair() -> dict[str, object]:
    names = sorted(p.name for p in (DAVIS / "frames").glob("*.png"))

    def items() -> Iterator[tuple[NDArray[np.uint8], NDArray[np.bool_]]]:
        for name in names:
            yield read_rgb(DAVIS / "frames" / name), read_mask(DAVIS / "masks" / name)

    start = time.perf_counter()
    outs = list(erase_stream(items()))
    seconds = time.perf_counter() - start
    pick = len(outs) // 2
    before = read_rgb(DAVIS / "frames" / names[pick])
    cv2.imwrite("/tmp/erase_davis_before.png", cv2.cvtColor(before, cv2.COLOR_RGB2BGR))
    cv2.imwrite("/tmp/erase_davis_after.png", cv2.cvtColor(outs[pick], cv2.COLOR_RGB2BGR))
    picks = np.linspace(0, len(outs) - 1, 6).astype(int)
    strip = [cv2.cvtColor(outs[i], cv2.COLOR_RGB2BGR) for i in picks]
    grid = np.vstack([np.hstack(strip[:3]), np.hstack(strip[3:])])
    cv2.imwrite("/tmp/erase_davis_strip.png", grid)
    return {
        "frames": len(outs),
        "fps": len(outs) / seconds,
        "before": "/tmp/erase_davis_before.png",
        "after": "/tmp/erase_davis_after.png",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--davis", action="store_true", help="also erase the DAVIS tennis player")
    args = parser.parse_args()

    result: dict[str, object] = {"cv2_threads": cv2.getNumThreads()}
    quality: dict[str, dict[str, float]] = {}
    clips = {
        "static_camera": synthetic_clip(640, 360, args.frames, (0.0, 0.0)),
        "panning_camera": synthetic_clip(640, 360, args.frames, (3.0, 1.0)),
        "two_plane_parallax": parallax_clip(640, 360, args.frames),
        "object_never_moves": still_object_clip(640, 360, args.frames),
    }
    for name, clip in clips.items():
        invented: list[int] = []
        pairs = ((f, m) for f, m, _ in clip)
        ours = list(erase_stream(pairs, on_invented=lambda i, _n, seen=invented: seen.append(i)))
        base, _ = run("spatial", clip)
        quality[name] = {
            "erase_psnr_db": round(hole_psnr(clip, ours), 2),
            "spatial_baseline_psnr_db": round(hole_psnr(clip, base), 2),
            "frames_reported_invented": len(invented),
            "frames": len(clip),
        }
    result["hole_psnr"] = quality

    # Window trade-off: a slow object (the clip is twice as long for the same path) needs
    # a longer look-ahead before the background behind it shows.
    slow = synthetic_clip(640, 360, 2 * args.frames, (1.0, 0.0), seed=3)
    frame_mb = slow[0][0].nbytes / 1e6
    result["window_tradeoff_640x360"] = {
        str(w): {
            "erase_psnr_db": round(hole_psnr(slow, outs), 2),
            "fps": round(len(slow) / seconds, 2),
            "frames_held_mb": round(w * frame_mb, 1),
        }
        for w in (4, 12, 24, 48)
        for outs, seconds in [run("erase", slow, window=w)]
    }

    clip = synthetic_clip(1280, 720, args.frames, (2.0, 0.5), seed=7)
    ours, t_ours = run("erase", clip)
    base, t_base = run("spatial", clip)
    result["speed_1280x720"] = {
        "frames": len(clip),
        "hole_share": round(float(np.mean([m.mean() for _, m, _ in clip])), 4),
        "erase_fps": round(len(clip) / t_ours, 2),
        "spatial_baseline_fps": round(len(clip) / t_base, 2),
        "erase_psnr_db": round(hole_psnr(clip, ours), 2),
        "spatial_baseline_psnr_db": round(hole_psnr(clip, base), 2),
    }
    video = VIDEOS / "01_dog.mp4"
    if video.exists():
        real = real_footage(video, args.frames)
        _, t_ours = run("erase", real)
        _, t_base = run("spatial", real)
        result["speed_real_720p"] = {
            "video": video.name,
            "frames": len(real),
            "erase_fps": round(len(real) / t_ours, 2),
            "spatial_baseline_fps": round(len(real) / t_base, 2),
        }
    if args.davis:
        result["davis_tennis"] = davis_pair()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
