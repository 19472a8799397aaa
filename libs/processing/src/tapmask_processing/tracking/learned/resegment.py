"""Keyframes: SAM re-segments a tracked object around where it was carried to.

The flow-carried mask says where the object is; memory says what it looks like. SAM is
prompted with a box around the part of the carried mask that still looks like the object
(flow drags background along, and points on it would make SAM take it in), points spread
over that part, and negative points on every other object and on look-alikes nearby; and,
when NanoTrack's confident box disagrees with the carried one, from that box too. An
answer is taken when it looks like the object and overlaps where it was carried, or lies
where a confident NanoTrack put it; an answer that swells past ``max_step`` times the
carried mask (a merge) or ``max_growth`` times the clicked object (a spill) is not.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from tapmask_processing.tracking.learned.frame import FrameView
from tapmask_processing.tracking.learned.geometry import box_iou, centre, iou, lookalike_points
from tapmask_processing.tracking.learned.settings import LearnedSettings
from tapmask_processing.tracking.learned.state import TrackedObject
from tapmask_processing.tracking.sam_onnx import Embedding, SamOnnx, Segmentation
from tapmask_processing.tracking.sam_prompting import (
    Box,
    Point,
    appearance,
    bbox,
    grow,
    pad_box,
    spread_points,
)
from tapmask_processing.tracking.tracking import Mask

log = logging.getLogger("tapmask.tracker.learned")
_NO_LOGITS = np.zeros((1, 1, 1, 1), np.float32)


def looks_like(obj: TrackedObject, emb: Embedding, grid: np.ndarray, shape: tuple[int, int],
               threshold: float) -> Mask:
    """Working-size map of where the frame's features resemble ``obj``'s memory."""
    rows, cols = emb.valid_cells()
    sims = obj.memory.match_map(grid)[:rows, :cols]
    h, w = shape
    cell = 16 / emb.scale * (w / emb.width)  # working pixels per feature cell
    full = cv2.resize(
        (sims >= threshold).astype(np.uint8), (round(cols * cell), round(rows * cell)),
        interpolation=cv2.INTER_NEAREST,
    )
    out = np.zeros((h, w), bool)
    fh, fw = min(h, full.shape[0]), min(w, full.shape[1])
    out[:fh, :fw] = full[:fh, :fw] > 0
    return out


def resegment(
    sam: SamOnnx,
    settings: LearnedSettings,
    obj: TrackedObject,
    view: FrameView,
    negatives: list[Point],
) -> Mask | None:
    """SAM's mask of ``obj`` on this keyframe (working size), or ``None`` when no answer
    looks like it (see the module docstring)."""
    emb, grid = view.features()
    sh, sw = obj.mask.shape
    boxes: list[tuple[Box, list[Point], bool]] = []
    looks = looks_like(obj, emb, grid, obj.mask.shape, settings.same_object)
    core = obj.mask & looks
    if float(core.sum()) < 0.2 * float(obj.mask.sum()):
        core = obj.mask
    negatives = negatives + [view.to_frame(p) for p in lookalike_points(looks, obj.mask)]
    carried_box = bbox(core)
    inside = spread_points(core, 4)
    if carried_box is not None and inside:
        boxes.append((pad_box(carried_box, 0.1, sw, sh), inside, False))
        if float(obj.mask.sum()) < settings.partial_share * obj.ref_area and not obj.decoy:
            # Carrying a part (found again by a patch of it, or half hidden before):
            # also ask with room for the whole.
            boxes.append((pad_box(carried_box, 0.35, sw, sh), inside[:1], False))
    if obj.nano_box is not None and not obj.decoy and (
        carried_box is None or box_iou(obj.nano_box, carried_box) < 0.7
    ):
        boxes.append((pad_box(obj.nano_box, 0.05, sw, sh), [centre(obj.nano_box)], True))
    best: tuple[float, Mask, Mask, float] | None = None
    trusted = None
    for box, points, from_nano in boxes:
        full_box = (box[0] / view.scale, box[1] / view.scale,
                    box[2] / view.scale, box[3] / view.scale)
        seg = sam.segment(
            emb,
            [*[view.to_frame(p) for p in points], *negatives],
            [1] * len(points) + [0] * len(negatives),
            box=full_box,
        )
        mask = view.to_work(seg.mask)
        if not mask.any():
            continue
        look = appearance(grid, seg.mask)
        similar = obj.memory.identity(look, settings.lookalike_margin)
        overlap = iou(mask, obj.mask)
        log.debug(
            "object %d resegment: score=%.2f similar=%.2f overlap=%.2f",
            obj.object_id, seg.score, similar, overlap,
        )
        carried_area = float(obj.mask.sum())
        if (
            seg.score < settings.min_sam_score
            or float(mask.sum()) > settings.max_growth * obj.ref_area
            or (carried_area and float(mask.sum()) > settings.max_step * carried_area)
        ):
            continue  # unsure, or spilling over the things around it
        # Where the flow-carried mask and SAM agree, or where NanoTrack (confident)
        # followed it and SAM finds something that looks like it there.
        agreed = similar >= settings.same_object and overlap >= 0.2
        followed = from_nano and similar >= settings.followed
        if similar >= settings.found_again or agreed or followed:
            size = abs(float(np.log(max(float(mask.sum()), 1.0) / obj.ref_area)))
            rank = similar + 0.5 * overlap - 0.2 * min(size, 2.0)
            if best is None or rank > best[0]:
                best = (rank, mask, seg.mask, overlap)
                if look is not None and similar >= settings.memory_trust and (
                    overlap >= settings.memory_overlap
                ):
                    trusted = look
                else:
                    trusted = None
    if best is None:
        return None
    if trusted is not None and not obj.decoy:
        obj.memory.remember(trusted)
    recent = obj.regrowing(view.index, settings.regrow_frames)
    if obj.decoy or (float(best[1].sum()) >= settings.partial_share * obj.ref_area
                     and not recent):
        return best[1]
    # Smaller than when clicked, or found again lately (maybe by the part that came
    # back into view first): grow SAM's answer towards the whole object. Not
    # ``add_parts`` here (12 decoder calls a time): on 01_dog its 100 calls over the
    # keyframes added nothing, and the job went from 234 decoder calls to 98 without it.
    inside = [view.to_frame(p) for p in spread_points(best[1], 2)]
    grown = grow(sam, emb, Segmentation(best[2], 1.0, _NO_LOGITS), inside, [], grid)
    return view.to_work(grown.mask)
