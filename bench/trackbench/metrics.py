"""Per-frame and per-sequence measures of a mask track against exact truth.

- J: IoU (both empty: 1).
- Boundary F: the DAVIS boundary measure (Perazzi et al. 2016): boundary pixels of the
  mask and of the truth matched within ``0.008 x`` the frame's diagonal (5 px at 512 x 288);
  F of boundary precision and recall (both empty: 1; one empty: 0).
- Recall (share of the object covered: what a blur must not miss) and worst-frame
  recall, on *scored* frames: those where the object shows at least ``max(64 px, 5% of
  its median visible area)`` (a sliver at the frame's edge would make the worst frame
  noise).
- Precision (share of the mask on the object; an empty mask claims nothing: 1), on every
  frame: a mask where the object is absent scores 0.
- Look-alike hidden: share of the look-alike's visible pixels under the mask, on frames
  where it shows (>= 64 px).
- Leaks: scored frames with recall < ``LEAK_RECALL``; *unflagged* leaks are those no
  ``ReviewSpan`` of the tracker names.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq

import cv2
import numpy as np
import numpy.typing as npt

Mask = npt.NDArray[np.bool_]
#: A frame whose recall is below this leaves a visible part of the object (10% shown).
LEAK_RECALL = 0.9
MIN_SCORED_PX = 64


def iou(pred: Mask, truth: Mask) -> float:
    union = int((pred | truth).sum())
    return float((pred & truth).sum() / union) if union else 1.0


def recall(pred: Mask, truth: Mask) -> float:
    area = int(truth.sum())
    return float((pred & truth).sum() / area) if area else 1.0


def precision(pred: Mask, truth: Mask) -> float:
    area = int(pred.sum())
    return float((pred & truth).sum() / area) if area else 1.0


def _boundary(mask: Mask) -> Mask:
    m = mask.astype(np.uint8)
    eroded = cv2.erode(m, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    out: Mask = (m > 0) & (eroded == 0)
    return out


def boundary_f(pred: Mask, truth: Mask, bound_th: float = 0.008) -> float:
    """DAVIS boundary F (``bound_th`` of the diagonal as the match tolerance)."""
    h, w = truth.shape
    radius = max(1, int(np.ceil(bound_th * np.hypot(h, w))))
    pb, tb = _boundary(pred), _boundary(truth)
    np_, nt = int(pb.sum()), int(tb.sum())
    if np_ == 0 and nt == 0:
        return 1.0
    if np_ == 0 or nt == 0:
        return 0.0
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    t_near = cv2.dilate(tb.astype(np.uint8), disk) > 0
    p_near = cv2.dilate(pb.astype(np.uint8), disk) > 0
    bp = float((pb & t_near).sum() / np_)
    br = float((tb & p_near).sum() / nt)
    return 2 * bp * br / (bp + br) if bp + br > 0 else 0.0


def scored_frames(truth: Seq[Mask]) -> list[int]:
    """Frames where enough of the object shows for recall to mean something."""
    areas = np.array([int(t.sum()) for t in truth])
    visible = areas[areas > 0]
    if visible.size == 0:
        return []
    floor = max(MIN_SCORED_PX, 0.05 * float(np.median(visible)))
    return [i for i, a in enumerate(areas) if a >= floor]


def in_review(frame: int, review: Seq[object]) -> bool:
    return any(getattr(r, "start", 0) <= frame <= getattr(r, "end", -1) for r in review)


def summarise(
    pred: Seq[Mask],
    truth: Seq[Mask],
    review: Seq[object] = (),
    lookalike: Seq[Mask] | None = None,
    frames: Seq[int] | None = None,
) -> dict[str, object]:
    """Per-sequence figures (see the module docstring). ``frames``: score only these
    (the oracle runs on every k-th frame)."""
    idx = list(range(len(truth))) if frames is None else list(frames)
    scored = [i for i in scored_frames(truth) if i in set(idx)]
    recalls = {i: recall(pred[i], truth[i]) for i in scored}
    worst = min(recalls, key=lambda i: recalls[i]) if recalls else None
    leaks = [i for i in scored if recalls[i] < LEAK_RECALL]
    unflagged = [i for i in leaks if not in_review(i, review)]
    out: dict[str, object] = {
        "J": round(float(np.mean([iou(pred[i], truth[i]) for i in idx])), 4),
        "F": round(float(np.mean([boundary_f(pred[i], truth[i]) for i in idx])), 4),
        "recall": round(float(np.mean(list(recalls.values()))), 4) if recalls else None,
        "precision": round(float(np.mean([precision(pred[i], truth[i]) for i in idx])), 4),
        "worst_frame_recall": round(recalls[worst], 4) if worst is not None else None,
        "worst_frame": worst,
        "scored_frames": len(scored),
        "leak_frames": len(leaks),
        "unflagged_leak_frames": unflagged,
    }
    if lookalike is not None:
        shown = [i for i in idx if int(lookalike[i].sum()) >= MIN_SCORED_PX]
        out["lookalike_hidden"] = (
            round(float(np.mean([recall(pred[i], lookalike[i]) for i in shown])), 4)
            if shown
            else None
        )
    return out


def largest_region_point(region: Mask) -> tuple[float, float] | None:
    """The deepest point of ``region``'s largest connected piece (where a user clicks)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        region.astype(np.uint8), connectivity=8
    )
    if count <= 1:
        return None
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    piece = np.pad(labels == biggest, 1).astype(np.uint8)
    dist = cv2.distanceTransform(piece, cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(dist.argmax()), dist.shape)
    return float(x), float(y)
