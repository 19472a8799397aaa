"""A person's clicks: new objects, corrections, and the look-alikes beside them.

A positive click makes the object from ``sam_prompting.click_to_object`` (the whole
object, as the web app's preview shows it) and starts its memory from that appearance.
A correction without a positive (a "Not this") re-segments the carried object without
the clicked spot. Look-alikes next to a clicked object are tracked as decoys: never
drawn, only there to be negative prompts for it, and remembered by the object as what
it is not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from tapmask_processing.tracking.learned.frame import FrameView
from tapmask_processing.tracking.learned.geometry import deepest, lookalike_points
from tapmask_processing.tracking.learned.memory import AppearanceMemory
from tapmask_processing.tracking.learned.resegment import looks_like
from tapmask_processing.tracking.learned.settings import LearnedSettings
from tapmask_processing.tracking.learned.state import TrackedObject
from tapmask_processing.tracking.morphology import dilate
from tapmask_processing.tracking.motion import Gray
from tapmask_processing.tracking.sam_onnx import SamOnnx
from tapmask_processing.tracking.sam_prompting import (
    appearance,
    bbox,
    click_to_object,
    motion_judge,
    whole_object,
)
from tapmask_processing.tracking.tracking import Prompt, TrackingError

log = logging.getLogger("tapmask.tracker.learned")
BoxTrackerFactory = Callable[[Any, np.ndarray], Any]


def apply_click(
    sam: SamOnnx,
    settings: LearnedSettings,
    objects: dict[int, TrackedObject],
    object_id: int,
    positives: list[Prompt],
    cuts: list[Prompt],
    view: FrameView,
    box_tracker: BoxTrackerFactory,
    later: Gray | None = None,
) -> None:
    """Start or correct ``object_id`` from the clicks on this frame. ``later``: a frame a
    few frames on (working size, grey), to see what moves with the clicked part."""
    emb, grid = view.features()
    negatives = [(p.x, p.y) for p in cuts]
    obj = objects.get(object_id)
    if positives:
        moves = (
            motion_judge(view.gray, later, settings.whole_motion_ratio)
            if later is not None else None
        )
        seg = click_to_object(sam, emb, [(p.x, p.y) for p in positives], negatives, grid,
                              moves)
    else:
        assert obj is not None
        inside = deepest(obj.mask)
        box = bbox(obj.mask)
        if inside is None or box is None:
            return
        seg = sam.segment(
            emb,
            [view.to_frame(inside), *negatives],
            [1] + [0] * len(negatives),
            box=(box[0] / view.scale, box[1] / view.scale,
                 box[2] / view.scale, box[3] / view.scale),
        )
    mask = view.to_work(seg.mask)
    ref = appearance(grid, seg.mask)
    if ref is None or not mask.any():
        raise TrackingError(
            f"nothing to track at the click(s) on frame {view.index} (object {object_id}); "
            "click inside the object"
        )
    if obj is None or positives:
        area = float(mask.sum())
        memory = AppearanceMemory(ref, settings.memory_size)
        if obj is not None:
            # A new click on a known object adds to what is known: earlier views stay.
            memory.recent.extend(obj.memory.recent)
            memory.recent.append(obj.memory.clicked)
            memory.lookalikes.extend(obj.memory.lookalikes)
            while len(memory.recent) > max(settings.memory_size, 1):
                memory.recent.popleft()
        obj = TrackedObject(object_id, mask, memory, area, area, view.index, since=view.index)
        objects[object_id] = obj
    obj.take(mask, view.index, box_tracker(view.bgr, mask))
    if positives:
        add_decoys(sam, settings, objects, obj, view, box_tracker)


def add_decoys(
    sam: SamOnnx,
    settings: LearnedSettings,
    objects: dict[int, TrackedObject],
    obj: TrackedObject,
    view: FrameView,
    box_tracker: BoxTrackerFactory,
) -> None:
    """Track look-alikes next to a clicked object as decoys.

    Why: in ``bedroom.mp4`` the boy beside the clicked girl looks like her (cosine 0.80,
    against 0.35 for a woman next to a dog), and once he is half behind her, flow carries
    her mask onto him; a keyframe then takes both. A decoy's interior is a negative prompt
    for her at every keyframe, as two clicked objects are, and its appearance joins her
    memory as what she is not."""
    emb, grid = view.features()
    for key in [k for k, o in objects.items() if o.decoy_of == obj.object_id]:
        del objects[key]
    inside = deepest(obj.mask)
    negatives = [view.to_frame(inside)] if inside is not None else []
    looks = looks_like(obj, emb, grid, obj.mask.shape, settings.same_object)
    h, w = obj.mask.shape
    apart = dilate(obj.mask, max(2, round(0.01 * float(np.hypot(w, h)))))
    for point in lookalike_points(looks, obj.mask, most=2):
        seg = whole_object(sam, emb, [view.to_frame(point)], negatives, grid)
        mask = view.to_work(seg.mask)
        area = float(mask.sum())
        # A thing of its own: of comparable size and apart from the object (a patch
        # touching it is more likely a part SAM kept apart, like the dog's rear).
        if seg.score < 0.7 or area < 0.1 * obj.ref_area or (
            float((mask & apart).sum()) > 0.05 * area
        ):
            continue
        ref = appearance(grid, seg.mask)
        if ref is None:
            continue
        key = min(0, *objects) - 1  # decoys have negative keys
        decoy = TrackedObject(key, mask, AppearanceMemory(ref, 0), area, area, view.index,
                              since=view.index, decoy_of=obj.object_id)
        objects[key] = decoy
        decoy.take(mask, view.index, box_tracker(view.bgr, mask))
        obj.memory.remember_lookalike(ref)
        log.debug("object %d: decoy %d at (%.0f, %.0f)", obj.object_id, key, *point)
