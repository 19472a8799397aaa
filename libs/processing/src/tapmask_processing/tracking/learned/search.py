"""Finding a lost object again, over the whole frame, by matching it against memory.

Candidates are SAM's answers at the feature cells most like the object's memory
(``AppearanceMemory.match_map``). One is taken when its mask looks like the object (and
not more like a remembered look-alike), is of a plausible size (a quarter to four times
the last), is not on another tracked thing, and wins once a cost for distance from where
the object was last seen is paid (on 01_dog, the woman's hair matches the lost dog's fur
at 0.82 from across the frame; the dog coming back through the edge it left by, at
0.83-0.88).
"""

from __future__ import annotations

import logging

import numpy as np

from tapmask_processing.tracking.learned.frame import FrameView
from tapmask_processing.tracking.learned.geometry import centre, plausible_size, touches_edge
from tapmask_processing.tracking.learned.settings import LearnedSettings
from tapmask_processing.tracking.learned.state import TrackedObject
from tapmask_processing.tracking.sam_onnx import SamOnnx
from tapmask_processing.tracking.sam_prompting import Point, appearance, bbox, grow
from tapmask_processing.tracking.tracking import Mask

log = logging.getLogger("tapmask.tracker.learned")


def search(
    sam: SamOnnx,
    settings: LearnedSettings,
    obj: TrackedObject,
    view: FrameView,
    negatives: list[Point],
    taken: Mask,
) -> Mask | None:
    """``obj``'s mask somewhere in this frame (working size), or ``None``. ``taken``: the
    other tracked things' masks, where it is not."""
    emb, grid = view.features()
    rows, cols = emb.valid_cells()
    seen = obj.held if obj.held is not None else obj.last_seen
    last_box = bbox(seen) if seen is not None else None
    last_area = float(seen.sum()) if seen is not None else 0.0
    diag = float(np.hypot(*obj.mask.shape))
    sims = obj.memory.match_map(grid)[:rows, :cols]
    wh, ww = obj.mask.shape
    work = ww / emb.width  # working pixels per frame pixel
    best: tuple[float, Mask] | None = None
    flat = np.argsort(sims, axis=None)[::-1]
    tried: list[tuple[int, int]] = []
    for pos in flat[:40]:
        r, c = divmod(int(pos), cols)
        if sims[r, c] < settings.found_again - 0.1 or len(tried) >= 3:
            break
        if any(abs(r - tr) <= 3 and abs(c - tc) <= 3 for tr, tc in tried):
            continue
        point = ((c + 0.5) * 16 / emb.scale, (r + 0.5) * 16 / emb.scale)
        wy, wx = min(int(point[1] * work), wh - 1), min(int(point[0] * work), ww - 1)
        if taken[wy, wx]:
            # On another tracked thing (a look-alike's best cells are on the object it
            # looks like: the boy's, lost behind the girl in bedroom.mp4, on her).
            continue
        tried.append((r, c))
        # SAM's first answer at the cell, grown to the whole object only when it already
        # looks like the object (a grown answer is 2-5 more decoder calls; on 01_dog most
        # cells' answers are the woman's hair or planters, 0.70-0.79).
        patch = sam.segment(emb, [point, *negatives], [1] + [0] * len(negatives))
        patch_look = obj.memory.identity(appearance(grid, patch.mask), settings.lookalike_margin)
        if patch_look < settings.refound or patch.score < 0.6:
            log.debug("object %d search at (%.0f, %.0f): cell %.2f, patch %.2f unlike it",
                      obj.object_id, *point, sims[r, c], patch_look)
            continue
        # A decoy is only there to be a negative prompt: its patch will do.
        seg = patch if obj.decoy else grow(sam, emb, patch, [point], negatives, grid)
        mask = view.to_work(seg.mask)
        if not mask.any() or seg.score < 0.6:
            continue
        if float((mask & taken).sum()) > 0.3 * float(mask.sum()):
            continue
        similar = obj.memory.identity(appearance(grid, seg.mask), settings.lookalike_margin)
        log.debug(
            "object %d search at (%.0f, %.0f): cell %.2f, mask %.2f, score %.2f, area %d",
            obj.object_id, *point, sims[r, c], similar, seg.score, int(mask.sum()),
        )
        if similar < settings.refound:
            continue
        if last_area and not plausible_size(float(mask.sum()), last_area, obj.ref_area,
                                            touches_edge(mask)):
            continue
        rank = similar
        found_box = bbox(mask)
        if last_box is not None and found_box is not None:
            gap = np.subtract(centre(found_box), centre(last_box))
            rank -= settings.distance_cost * float(np.hypot(*gap)) / diag
        if rank >= settings.refound and (best is None or rank > best[0]):
            best = (rank, mask)
    return None if best is None else best[1]
