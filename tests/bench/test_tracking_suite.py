"""A fixed subset of the tracking benchmark (bench/bench_tracking_suite.py), from its
EVALUATION split, with floors on the learned tracker, and checks of the generator itself.

The subset: seeds 9 (the cups' ball, slow, a recoloured copy crossing in front of it, on
the snowfield clip under a camera that pans), 13 (the dog leaving the frame and coming
back behind a passing pole, light ramping, on the cups clip) and 29 (the dog with a person
walking in front of it, on the snowfield clip). Each is 36 frames at 512 x 288, one
click on frame 0 (the deepest point of the true mask).

The floors are the pre-rewrite learned tracker's figures on these three sequences,
measured on 2026-12-07 (tracker at bd40f92), less a margin: mean recall 0.68 (floor
0.60), mean precision 0.26 (floor 0.20), look-alike hidden on seed 9 0.38 (ceiling 0.50),
unflagged leak frames 34 of 95 scored frames (ceiling 45%). They are low because the
tracker is weak on such footage (issue 16), not to pass a weak tracker: they stop a
regression, and trackers that would meet them by chance do not (an empty mask, the whole
frame, the frame-0 mask held still, a still disc of 2.25 times the object's area at the
click: checked below; the disc misses only the unflagged-leak ceiling, at 61%; the
weight-free tracker's recall here is 0.61). Raise them when
the learned tracker improves; never set them from these sequences' own frames by
looking: they come from a run of the benchmark.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from trackbench.generate import Sequence, generate, split_of  # noqa: E402
from trackbench.harness import EmbeddingCache, Oracle, run_tracker  # noqa: E402
from trackbench.metrics import summarise  # noqa: E402

from tapmask_processing.tracking import Prompt, build_tracker  # noqa: E402

SUBSET = (9, 13, 29)
LOOKALIKE_SEED = 9

RECALL_FLOOR = 0.60
PRECISION_FLOOR = 0.20
LOOKALIKE_CEILING = 0.50
UNFLAGGED_LEAK_CEILING = 0.45


@pytest.fixture(scope="module")
def sequences() -> dict[int, Sequence]:
    return {seed: generate(seed) for seed in SUBSET}


def floor_failures(results: dict[int, dict[str, Any]]) -> list[str]:
    """The floors a set of per-sequence summaries misses (empty: all met)."""
    failures = []
    recall = float(np.mean([r["recall"] for r in results.values()]))
    precision = float(np.mean([r["precision"] for r in results.values()]))
    scored = sum(int(r["scored_frames"]) for r in results.values())
    unflagged = sum(len(r["unflagged_leak_frames"]) for r in results.values()) / scored
    lookalike = results[LOOKALIKE_SEED]["lookalike_hidden"]
    if recall < RECALL_FLOOR:
        failures.append(f"mean recall {recall:.3f} < {RECALL_FLOOR}")
    if precision < PRECISION_FLOOR:
        failures.append(f"mean precision {precision:.3f} < {PRECISION_FLOOR}")
    if lookalike > LOOKALIKE_CEILING:
        failures.append(f"look-alike hidden {lookalike:.3f} > {LOOKALIKE_CEILING}")
    if unflagged > UNFLAGGED_LEAK_CEILING:
        failures.append(f"unflagged leak share {unflagged:.3f} > {UNFLAGGED_LEAK_CEILING}")
    return failures


def test_subset_is_from_the_evaluation_split() -> None:
    assert all(split_of(seed) == "evaluation" for seed in SUBSET)


def test_generator_is_deterministic(sequences: dict[int, Sequence]) -> None:
    again = generate(LOOKALIKE_SEED)
    first = sequences[LOOKALIKE_SEED]
    assert again.name == first.name and again.click == first.click
    assert all(np.array_equal(a, b) for a, b in zip(again.frames, first.frames, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(again.masks, first.masks, strict=True))


@pytest.mark.parametrize("seed", [LOOKALIKE_SEED, 13])
def test_masks_are_the_pasted_alpha(sequences: dict[int, Sequence], seed: int) -> None:
    """Rendered without the object, a frame changes only where the object's visible alpha
    is above 0, and the truth mask holds the pixels the object visibly changed."""
    seq, bare = sequences[seed], generate(seed, without_target=True)
    changed_total = masked_total = stray_total = untouched_total = 0
    for frame, empty, alpha, mask in zip(
        seq.frames, bare.frames, seq.alpha, seq.masks, strict=True
    ):
        diff = np.abs(frame.astype(np.int16) - empty.astype(np.int16)).max(axis=2)
        assert not (diff[alpha == 0] > 0).any(), "pixels changed where the object is not"
        assert np.array_equal(mask, alpha >= 0.5)
        visible = diff > 24
        changed_total += int((visible & mask).sum())
        masked_total += int(mask.sum())
        stray_total += int((visible & ~mask).sum())
        untouched_total += int((mask & (diff == 0)).sum())
    assert masked_total > 0
    # Most of the object differs visibly from what lies behind it ...
    assert changed_total > 0.6 * masked_total
    # ... and what the object visibly changed lies in its mask (edges at alpha < 0.5 aside).
    assert stray_total < 0.03 * masked_total
    # ... and no part of the mask is left untouched (hidden behind something in front).
    assert untouched_total < 0.01 * masked_total


@pytest.fixture(scope="module")
def cache() -> EmbeddingCache:
    """Frames the learned tracker encoded, shared with the oracle (same features)."""
    return EmbeddingCache()


@pytest.fixture(scope="module")
def learned(sequences: dict[int, Sequence], cache: EmbeddingCache) -> dict[int, dict[str, Any]]:
    tracker = build_tracker("learned")
    results = {}
    with cache.installed():
        for seed, seq in sequences.items():
            run = run_tracker(tracker, seq.frames, [Prompt(seq.click[0], seq.click[1])])
            results[seed] = summarise(run.masks, seq.masks, run.review, seq.lookalike)
    return results


@pytest.mark.slow
def test_learned_tracker_meets_the_floors(learned: dict[int, dict[str, Any]]) -> None:
    assert floor_failures(learned) == [], learned


def _trivial(seq: Sequence, kind: str) -> list[np.ndarray]:
    shape = seq.masks[0].shape
    if kind == "empty":
        return [np.zeros(shape, bool)] * len(seq.frames)
    if kind == "whole frame":
        return [np.ones(shape, bool)] * len(seq.frames)
    if kind == "frame-0 mask held":
        return [seq.masks[0]] * len(seq.frames)
    disc = np.zeros(shape, np.uint8)
    radius = int(np.sqrt(seq.masks[0].sum() / np.pi) * 1.5)
    cv2.circle(disc, (int(seq.click[0]), int(seq.click[1])), radius, 1, -1)
    return [disc.astype(bool)] * len(seq.frames)


@pytest.mark.parametrize("kind", ["empty", "whole frame", "frame-0 mask held", "disc at click"])
def test_floors_reject_trackers_that_do_not_track(
    sequences: dict[int, Sequence], kind: str
) -> None:
    results = {
        seed: summarise(_trivial(seq, kind), seq.masks, (), seq.lookalike)
        for seed, seq in sequences.items()
    }
    assert floor_failures(results), f"{kind} meets the floors: {results}"


@pytest.mark.slow
def test_oracle_scores_above_the_learned_floor(
    sequences: dict[int, Sequence], cache: EmbeddingCache, learned: dict[int, dict[str, Any]]
) -> None:
    oracle = Oracle(cache, every=9)
    with cache.installed():
        recalls = np.asarray([oracle.evaluate(seq)["recall"] for seq in sequences.values()], float)
    # The segmenter itself is no limit here: what it gives with the true box is far above
    # what the tracker must reach (measured 0.97 on these frames).
    assert float(np.mean(recalls)) > RECALL_FLOOR + 0.2, recalls
    assert float(np.mean(recalls)) > np.mean([float(r["recall"]) for r in learned.values()])
