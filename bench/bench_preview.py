"""The web app's mask preview as the gateway serves it: a frame, then clicks on it.

What a person waits for, timed in-process on the gateway's own pieces
(``tapmask_gateway.adapters.preview.ClickSegmenter`` and ``tapmask_media.stills``), for
every click of the shared clips' manifest:

- ``frame_s``: any frame by index (demuxed timestamps + a seek; frame 0 and a frame half
  way through), turned as players show it, encoded as the JPEG the page shows;
- ``cold_click_s``: the first click on a frame whose features are not ready: image
  encoder + ``whole_object`` + ``add_parts`` (the tracker's click path) + the PNG;
- ``first_click_s``: the first click once the gateway has prepared the shown frame's
  features (``ClickSegmenter.prepare``, started when the frame is served: a person takes
  longer than the encoder to aim);
- ``next_click_s``: a second click on the same frame (a negative point beside the first):
  the frame's features come from the cache, only the decoder runs.

Baseline in the same run: the second click without the cache (the encoder again), which
is what every click would cost had the gateway not kept the features. Median and max over
the clicks, wall seconds (what a person waits) and ``cpu_median`` (this process, all
threads: steadier on a shared machine; on an idle 2-core one wall is about cpu / 2 for
the encoder, cpu for the decoder calls); ``load_avg_1m`` before and after.

Usage: .venv/bin/python bench/bench_preview.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from tapmask_gateway.adapters.preview import ClickSegmenter, frame_jpeg
from tapmask_gateway.settings import PreviewSettings
from tapmask_media.stills import frame_timestamps, read_frame

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT.parent / "shared" / "testdata" / "videos"
MAX_SIDE = PreviewSettings().frame_max_side


def _stats(values: list[tuple[float, float]]) -> dict[str, float]:
    wall = [w for w, _ in values]
    cpu = [c for _, c in values]
    return {
        "median": round(statistics.median(wall), 3),
        "max": round(max(wall), 3),
        "cpu_median": round(statistics.median(cpu), 3),
    }


class _Timer:
    """Wall and this process's CPU seconds (all threads) of a block."""

    def __init__(self, into: list[tuple[float, float]]) -> None:
        self._into = into

    def __enter__(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def __exit__(self, *_: object) -> None:
        self._into.append((time.perf_counter() - self._wall, time.process_time() - self._cpu))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny run: it runs and prints its fields (make test); no figure to quote",
    )
    smoke = parser.parse_args().smoke
    manifest = json.loads((VIDEOS / "manifest.json").read_text())
    if smoke:  # the first clip, its first click
        name, clip = next(iter(manifest["videos"].items()))
        first = next(iter(clip["clicks"].items()))
        manifest["videos"] = {name: clip | {"clicks": dict([first])}}
    load_before = os.getloadavg()[0]
    cached = ClickSegmenter(PreviewSettings())
    fresh = ClickSegmenter(PreviewSettings(embeddings=1))
    frames: list[tuple[float, float]] = []
    first: list[tuple[float, float]] = []
    cold: list[tuple[float, float]] = []
    following: list[tuple[float, float]] = []
    uncached: list[tuple[float, float]] = []
    t = time.perf_counter()
    # Clicks are answered on the frame at SAM's size, as the tracker sees it (the gateway
    # decodes it so); the served frames are at MAX_SIDE.
    warm = read_frame(VIDEOS / "02_cups.mp4", 0, max_side=cached.side)
    cached.mask("warm", 0, warm, [(400, 467)], [])
    fresh.mask("warm", 0, warm, [(400, 467)], [])
    load_s = time.perf_counter() - t
    for name, clip in manifest["videos"].items():
        path = VIDEOS / name
        stamps = frame_timestamps(path)
        count = clip["frames"]
        for index in (0, count // 2):
            with _Timer(frames):
                frame_jpeg(read_frame(path, index, 0, stamps, MAX_SIDE))
        rgb = read_frame(path, 0, 0, stamps, cached.side)
        scale = rgb.shape[1] / clip["size"][0]
        for label, (x, y) in clip["clicks"].items():
            click = (x * scale, y * scale)
            beside = (min(rgb.shape[1] - 1, click[0] + 40 * scale), click[1])
            key = f"{name}:{label}"
            with _Timer(cold):
                cached.mask(key, 0, rgb, [click], [])
            cached.shown(key + ":shown", 0)
            cached.prepare(key + ":shown", 0, lambda rgb=rgb: rgb)
            with _Timer(first):
                cached.mask(key + ":shown", 0, rgb, [click], [])
            with _Timer(following):
                cached.mask(key, 0, rgb, [click], [beside])
            fresh.mask(key, 0, rgb, [click], [])
            fresh.mask("other", 0, rgb, [click], [])  # pushes the frame out of its 1-slot cache
            with _Timer(uncached):
                fresh.mask(key, 0, rgb, [click], [beside])
    print(
        json.dumps(
            {
                "bench": "preview",
                "clicks": len(first),
                "load_s": round(load_s, 3),
                "frame_s": _stats(frames),
                "cold_click_s": _stats(cold),
                "first_click_s": _stats(first),
                "next_click_s": _stats(following),
                "baseline_next_click_without_cache_s": _stats(uncached),
                "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            }
        )
    )


if __name__ == "__main__":
    main()
