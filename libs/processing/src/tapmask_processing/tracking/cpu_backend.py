"""A tracker that needs no downloaded weights: classic vision on the CPU.

Per object:
1. On its prompt frame: GrabCut from the click(s) (``click_segment``); when the object
   moves against the camera over the next frames, its whole moving shape (colour change
   against camera-compensated later frames, restricted to what moves like the click,
   ``motion_segment``) replaces the clicked colour segment, so that differently
   coloured parts of one object join and touching movers stay apart.
2. Each next frame: the previous mask is carried along by DIS optical flow, then
   corrected in a band around it by object/background colour histograms; pixels that
   move with the camera rather than with the object are dropped (background the flow
   dragged along). Where the object visibly moves, its moving shape (this frame against
   the camera-compensated frames 2, 4 and 8 back) reshapes the mask: parts colour
   missed are added (a leg), what lies well outside the shape is dropped.
3. Lost, when the mask collapses (occlusion) or its colours no longer match the clicked
   object (it slid onto the background): the last good mask stays on screen for a while
   (a hidden object must stay hidden) while the object is looked for around it among
   blobs of its colours and things moving there; the best colour match, less a cost for
   distance, wins (a far look-alike loses to the blurred object running nearby).

A later positive click on an object already tracked re-segments it on that frame.
Everything runs at a reduced working size (``max_side``); masks are grown by a small
privacy margin, since a blur that misses an object's edge leaks it.

Measured (bench/bench_tracking.py): DAVIS tennis from one click, mean IoU 0.47 and
recall 0.66 against 0.22 / 0.32 for a fixed disc; the ground truth holds the player's
long shadow too (~25% of it), which is not tracked: on the rest, recall is ~0.86.
~18 ms of CPU (~12 ms wall, 2 threads) a frame for 720p video tracked at 480x270.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from tapmask_processing.tracking.click_segment import click_disc_radius, segment_from_clicks
from tapmask_processing.tracking.colour_model import (
    ColourIndex,
    ColourModel,
    colour_index,
    salience,
    similarity,
)
from tapmask_processing.tracking.morphology import dilate as _dilate
from tapmask_processing.tracking.morphology import disc as _disc
from tapmask_processing.tracking.motion import (
    FlowEngine,
    Gray,
    fit_camera,
    motion_coherent_region,
    moves_with_camera,
    new_flow,
    warp_mask,
)
from tapmask_processing.tracking.motion_segment import PastFrames, moving_object, moving_shapes
from tapmask_processing.tracking.tracking import (
    Frame,
    Mask,
    Prompt,
    ReviewSpan,
    TrackingError,
    check_all_prompts_used,
    check_frame,
    check_prompt_in_frame,
    negatives_for,
    validate_prompts,
)

SoftMask = npt.NDArray[np.float32]

# Smallest frame side optical flow works on (DIS needs 12+).
_MIN_SIDE = 16
# Frames read ahead of the one being yielded: used to find what moves with the click.
LOOKAHEAD = 8
# Frames ahead compared with a clicked frame to find what moves (slow movers need 8).
_MOTION_STEPS = (2, 4, 8)
# A mask below this share of the object's usual area counts as lost (occluded).
_LOST_AREA = 0.3
# Frames a lost object's last mask is kept on screen before giving up on it.
_HOLD_FRAMES = 30
# Colour similarity (Bhattacharyya) to the clicked object below which the mask has
# drifted off it; measured: >= 0.77 while tracking DAVIS tennis, 0.2-0.45 once a
# mask had slid onto the pavement in 01_dog.
_MIN_SIMILARITY = 0.6
# A moving blob near a lost object needs less: motion blur smears its colours.
_MIN_MOVING_SIMILARITY = 0.45
_MOVING_MIN_SALIENCE = 0.35
# Colour similarity a re-found candidate gives up per object size of distance.
_DISTANCE_COST = 0.1
# Growth over the usual area beyond which a refined mask is taken for a leak.
_MAX_GROWTH = 1.4
_MAX_TOTAL_GROWTH = 2.0
# Prior P(object) of a pixel inside the flow-carried mask.
_PRIOR_INSIDE = 0.95
# Motion may join differently coloured parts to the clicked one, up to this many times
# its area, where colour gives at least this P(object).
_MAX_MOTION_GROWTH = 4
_GROW_MIN_PROB = 0.1
# Every this many frames, motion may add up to this share of a tracked mask's area.
_REGROW_EVERY = 10
# Most a frame's moving shape may grow the mask by.
_MOTION_GROWTH = 1.3
# Share of a component that must lie in the flow-carried mask for it to stay a part.
_PART_INSIDE = 0.5
_MAX_REGROWTH = 2.5


def _ring(mask: Mask, inner: int, outer: int) -> Mask:
    ring: Mask = _dilate(mask, outer) & ~_dilate(mask, inner)
    return ring


@dataclass
class _Object:
    """Tracking state of one object, all at working resolution."""

    soft: SoftMask
    colour: ColourModel
    ref_area: float
    last_good: Mask
    # The object's colours when clicked, never updated: what drift is measured against.
    template: npt.NDArray[np.float32]
    lost_for: int = 0
    areas: deque[float] = field(default_factory=lambda: deque(maxlen=15))


class CpuTracker:
    """Weight-free tracker (see the module docstring). Instances are reusable."""

    def __init__(self, max_side: int = 480, margin: float = 0.02) -> None:
        self.max_side: int | None = max_side
        self.name = "cpu"
        self.review: list[ReviewSpan] = []
        self._work_side = max_side
        self._margin = margin

    # -- streaming driver ---------------------------------------------------------------

    def track(self, frames: Iterable[Frame], prompts: Sequence[Prompt]) -> Iterator[Mask]:
        validate_prompts(prompts)
        return self._run(iter(frames), list(prompts))

    def _run(self, frames: Iterator[Frame], prompts: list[Prompt]) -> Iterator[Mask]:
        # Working-size frames (RGB, grey) read so far and not yet yielded.
        window: deque[tuple[Frame, Gray]] = deque()
        objects: dict[int, _Object] = {}
        flow = new_flow()
        past = PastFrames(_MOTION_STEPS)
        prev_gray: Gray | None = None
        index = 0
        exhausted = False
        size: tuple[int, int] | None = None
        while True:
            while not exhausted and len(window) <= LOOKAHEAD:
                frame = next(frames, None)
                if frame is None:
                    exhausted = True
                    break
                check_frame(frame, index + len(window))
                if size is None:
                    size = (frame.shape[1], frame.shape[0])
                    if min(size) < _MIN_SIDE:
                        raise TrackingError(
                            f"frames are {size[0]}x{size[1]}; the cpu tracker needs at least "
                            f"{_MIN_SIDE} pixels a side"
                        )
                    for p in prompts:
                        check_prompt_in_frame(p, *size)
                elif (frame.shape[1], frame.shape[0]) != size:
                    raise TrackingError(
                        f"frame {index + len(window)} is {frame.shape[1]}x{frame.shape[0]}, "
                        f"earlier frames were {size[0]}x{size[1]}"
                    )
                small = self._to_work(frame)
                gray = np.asarray(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
                window.append((small, gray))
            if not window:
                break
            small, gray = window[0]
            assert size is not None
            scale = small.shape[1] / size[0]
            # No object yet (first click on a later frame): no flow needed.
            backward = flow.calc(gray, prev_gray) if objects and prev_gray is not None else None
            camera = fit_camera(backward) if backward is not None else None
            past.push(small, camera)
            ahead = list(window)[1:]
            later = [g for _, g in ahead]
            for obj in objects.values():
                self._propagate(obj, small, backward, camera, past)
                if index % _REGROW_EVERY == 0:
                    self._regrow(obj, small, gray, later, flow)
            here = [p for p in prompts if p.frame == index]
            starting = {p.object_id for p in here if p.positive}
            for object_id in sorted(starting):
                objects[object_id] = self._start(
                    small, gray, ahead, prompts, object_id, index, scale, flow
                )
            # A negative click on an object already tracked cuts that spot out of its
            # state too, so the cut travels on with the mask (until colour regrows it).
            for object_id, obj in objects.items():
                if object_id not in starting:
                    cuts = [p for p in negatives_for(prompts, object_id) if p.frame == index]
                    self._carve(obj, small, cuts, scale)
            yield self._output(objects, small, here, prompts, scale, size)
            prev_gray = gray
            window.popleft()
            index += 1
        check_all_prompts_used(prompts, index)

    # -- per-object steps ---------------------------------------------------------------

    def _to_work(self, frame: Frame) -> Frame:
        h, w = frame.shape[:2]
        longer = max(h, w)
        if longer <= self._work_side:
            return frame
        factor = self._work_side / longer
        size = (round(w * factor), round(h * factor))
        # INTER_AREA at a fractional factor costs ~5 ms a 720p frame; by a whole factor
        # it is ~5x cheaper: shrink by the whole part, then linearly for the rest
        # (a factor above 1/2, where linear sampling hardly aliases).
        whole = int(longer // self._work_side)
        if whole >= 2:
            frame = np.asarray(
                cv2.resize(frame, (w // whole, h // whole), interpolation=cv2.INTER_AREA),
                dtype=np.uint8,
            )
        small: Frame = np.asarray(
            cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR), dtype=np.uint8
        )
        return small

    def _start(
        self,
        small: Frame,
        gray: Gray,
        ahead: list[tuple[Frame, Gray]],
        prompts: list[Prompt],
        object_id: int,
        index: int,
        scale: float,
        flow: FlowEngine,
    ) -> _Object:
        h, w = gray.shape
        pos = [
            (min(p.x * scale, w - 1), min(p.y * scale, h - 1))
            for p in prompts
            if p.positive and p.object_id == object_id and p.frame == index
        ]
        neg = [
            (min(p.x * scale, w - 1), min(p.y * scale, h - 1))
            for p in negatives_for(prompts, object_id)
            if p.frame == index
        ]
        seed = segment_from_clicks(small, pos, neg)
        steps = [ahead[k - 1] for k in _MOTION_STEPS if k <= len(ahead)]
        clicked = np.zeros(seed.shape, np.uint8)
        for x, y in pos:
            cv2.circle(clicked, (int(x), int(y)), click_disc_radius(seed.shape), 1, -1)
        whole = moving_object(small, gray, steps, seed, flow, clicked > 0)
        if whole is not None:
            seed = whole
        elif ahead:
            later = list(enumerate((g for _, g in ahead[:4]), start=1))
            grown = self._grow_by_motion(small, gray, later, seed, flow)
            # Motion that spreads far beyond the seed is the camera or a crowd, not it.
            if grown.sum() <= _MAX_MOTION_GROWTH * max(1, int(seed.sum())):
                seed = grown
        area = float(seed.sum())
        ring = _ring(seed, self._px(small, 0.01), self._px(small, 0.06))
        colour = ColourModel(colour_index(small), seed, ring)
        obj = _Object(
            soft=seed.astype(np.float32),
            colour=colour,
            ref_area=area,
            last_good=seed,
            template=colour.fg.copy(),
        )
        obj.areas.append(area)
        return obj

    def _grow_by_motion(
        self,
        small: Frame,
        gray: Gray,
        later: list[tuple[int, Gray]],
        mask: Mask,
        flow: FlowEngine,
    ) -> Mask:
        """``mask`` plus the connected pixels that move with it over ``later`` frames
        (``(frames ahead, frame)`` pairs)."""
        moving = motion_coherent_region(gray, later, mask, flow)
        # Flow is smooth across edges, so motion alone spills into the background:
        # keep only moving pixels whose colour is not clearly the surroundings'.
        ring = _ring(mask, self._px(small, 0.01), self._px(small, 0.06))
        index = colour_index(small)
        plausible = ColourModel(index, mask, ring).probability(index) > _GROW_MIN_PROB
        # Closing joins limbs that flow splits from the body by a pixel or two.
        joined = cv2.morphologyEx(
            ((moving & plausible) | mask).astype(np.uint8),
            cv2.MORPH_CLOSE,
            _disc(self._px(small, 0.01)),
        ).astype(bool)
        return _main_component(joined, mask) | mask

    def _regrow(
        self, obj: _Object, small: Frame, gray: Gray, later: list[Gray], flow: FlowEngine
    ) -> None:
        """Now and then, let motion add parts the mask has missed (a leg that moved)."""
        if obj.lost_for or len(later) < 4 or not obj.last_good.any():
            return
        current = obj.last_good
        near = _dilate(current, self._px(small, 0.05))
        # Two looks ahead (2 and 4 frames) instead of every frame: half the cost.
        ahead = [(2, later[1]), (4, later[3])]
        grown = self._grow_by_motion(small, gray, ahead, current, flow) & near
        if grown.sum() <= _MAX_REGROWTH * current.sum():
            obj.soft = grown.astype(np.float32)
            obj.last_good = grown
            obj.ref_area = max(obj.ref_area, float(grown.sum()))

    def _propagate(
        self,
        obj: _Object,
        small: Frame,
        backward: npt.NDArray[np.float32] | None,
        camera: npt.NDArray[np.float64] | None,
        past: PastFrames,
    ) -> None:
        if backward is None:
            return
        warped = warp_mask(obj.soft, backward)
        # Bayesian fusion: the flow-carried mask is the prior, colour the likelihood.
        # Inside the carried mask the prior favours the object (colour must clearly say
        # background to drop a pixel); in a thin band around it the prior is neutral, so
        # colour alone decides whether the object grew there. Biased to keep: a mask a
        # bit too big costs little, a missed edge leaks the object.
        core = warped > 0.5
        band = _dilate(core, self._px(small, 0.01))
        prior = np.where(core, _PRIOR_INSIDE, np.where(band, 0.5, 0.02)).astype(np.float32)
        index = colour_index(small)
        prob = np.clip(obj.colour.probability(index), 0.02, 0.98)
        score = prior * prob / (prior * prob + (1 - prior) * (1 - prob))
        # Background the mask was dragged onto moves with the camera, not the object.
        score[moves_with_camera(backward, camera, core, score > 0.5)] = 0.0
        # Opening cuts thin bridges along which flow drags the mask into background
        # of the object's colour; then keep the piece carrying most of the prediction.
        opened = cv2.morphologyEx(
            (score > 0.5).astype(np.uint8), cv2.MORPH_OPEN, _disc(self._px(small, 0.005))
        ).astype(bool)
        mask = _parts_of(opened, core)
        mask = self._with_motion(mask, core, past, small, prob > _GROW_MIN_PROB)
        usual = float(np.median(obj.areas)) if obj.areas else obj.ref_area
        # Leaks creep in a little per frame, so cap against the first frame's area too.
        if mask.sum() > min(_MAX_GROWTH * usual, _MAX_TOTAL_GROWTH * obj.ref_area):
            # Growing fast is leaking, not the object: stay within the carried mask.
            mask &= core
        area = float(mask.sum())
        # Lost: the mask collapsed (occlusion), or it no longer has the clicked object's
        # colours (it slid onto the background while the object moved away).
        if area < _LOST_AREA * usual or similarity(index, mask, obj.template) < _MIN_SIMILARITY:
            self._lost(obj, small, index, past)
            return
        obj.lost_for = 0
        obj.areas.append(area)
        obj.soft = mask.astype(np.float32)
        obj.last_good = mask
        # Learn colours only from frames where the object looks whole: a partly occluded
        # one would teach the model the occluder's colours.
        if 0.8 * usual <= area <= 1.25 * usual:
            ring = _ring(mask, self._px(small, 0.015), self._px(small, 0.06))
            obj.colour.update(index, mask, ring)

    def _with_motion(
        self, mask: Mask, core: Mask, past: PastFrames, small: Frame, plausible: Mask
    ) -> Mask:
        """Where the object visibly moves, its moving shape is the better outline:
        add the parts of it colour missed (a limb in another colour) and drop what lies
        well outside it (background of the object's colours the mask crept onto)."""
        if not core.any():
            return mask
        reach = self._px(small, 0.04)
        x, y, w, h = cv2.boundingRect(core.astype(np.uint8))
        rows, cols = core.shape
        box = (
            max(0, x - reach),
            max(0, y - reach),
            min(cols, x + w + reach),
            min(rows, y + h + reach),
        )
        change = past.change(box)
        if change is None:
            return mask
        x0, y0, x1, y1 = box
        local_core = core[y0:y1, x0:x1]
        count, labels = cv2.connectedComponents(moving_shapes(change))
        if count < 2:
            return mask
        overlap = np.bincount(labels[local_core], minlength=count)
        overlap[0] = 0
        local = labels == int(np.argmax(overlap))
        # Only a shape covering most of the object speaks for all of it (a waving hand
        # of a standing person is not the person); one much bigger than the object is
        # several things, or the background, moving.
        if overlap.max() < 0.5 * local_core.sum() or local.sum() > 1.5 * local_core.sum():
            return mask
        region = np.zeros_like(core)
        region[y0:y1, x0:x1] = local
        # Flow-free as it is, change also lights up what the object uncovers or an
        # occluder passing by: add only moving pixels not clearly in background colours.
        merged: Mask = (mask & _dilate(region, self._px(small, 0.02))) | (region & plausible)
        # Growth compounds frame on frame: motion may reshape the mask, hardly grow it.
        if merged.sum() > _MOTION_GROWTH * max(mask.sum(), core.sum()):
            return mask
        return merged

    def _lost(self, obj: _Object, small: Frame, index: ColourIndex, past: PastFrames) -> None:
        """Hold the last good mask and look for the object again near it: blobs of its
        colours, and things moving there (a running dog, blurred, shows its colours
        poorly); the best match, discounted by its distance, wins, so that a far
        look-alike (the owner's hair for a brown dog) does not."""
        obj.lost_for += 1
        usual = float(np.median(obj.areas)) if obj.areas else obj.ref_area
        reach = self._px(small, min(0.25, 0.08 + 0.01 * obj.lost_for))
        search = _dilate(obj.last_good, reach)
        colour_candidates: list[Mask] = []
        moving_candidates: list[Mask] = []
        prob = salience(index, obj.template)
        found = np.asarray(
            cv2.morphologyEx((prob > 0.6).astype(np.uint8), cv2.MORPH_CLOSE, _disc(2)), np.uint8
        )
        for mask in _blobs_in(found, search, 0.5 * usual, 2.0 * usual):
            if similarity(index, mask, obj.template) >= _MIN_SIMILARITY:
                colour_candidates.append(mask)
        candidates = list(colour_candidates)
        x, y, w, h = cv2.boundingRect(search.astype(np.uint8))
        change = past.change((x, y, x + w, y + h))
        if change is not None:
            moving = np.zeros(search.shape, np.uint8)
            moving[y : y + h, x : x + w] = moving_shapes(change)
            for blob in _blobs_in(moving, search, 0.3 * usual, 3.0 * usual):
                # A moving shape also holds the background the object just uncovered
                # (after a leap, where it was): keep the part in the object's colours.
                mask = _main_component(blob & (prob > _MOVING_MIN_SALIENCE), blob)
                if mask.sum() >= 0.3 * usual and (
                    similarity(index, mask, obj.template) >= _MIN_MOVING_SIMILARITY
                ):
                    moving_candidates.append(mask)
        # A moving part of a colour blob (the half that moved) stands for all of it.
        for mask in moving_candidates:
            for blob in colour_candidates:
                if (mask & blob).any():
                    mask = mask | blob
            candidates.append(mask)
        if candidates:
            centre = _centroid(obj.last_good)
            size = max(1.0, float(np.sqrt(usual)))

            def score(m: Mask) -> float:
                # Colour match, less a little per object size of distance: a far
                # look-alike loses to a blurred match nearby, a moving arm next to it
                # to the ball of the right colours.
                distance = float(np.hypot(*(_centroid(m) - centre))) / size
                return similarity(index, m, obj.template) - _DISTANCE_COST * distance

            mask = max(candidates, key=score)
            obj.soft = mask.astype(np.float32)
            obj.last_good = mask
            obj.lost_for = 0
            return
        # Still hidden: keep the last good mask as the prediction for the next frame.
        obj.soft = obj.last_good.astype(np.float32)

    def _carve(self, obj: _Object, small: Frame, negatives: list[Prompt], scale: float) -> None:
        if not negatives:
            return
        keep = np.ones(small.shape[:2], dtype=np.uint8)
        radius = self._px(small, 0.02)
        for p in negatives:
            cv2.circle(keep, (int(p.x * scale), int(p.y * scale)), radius, 0, -1)
        obj.soft = obj.soft * keep
        obj.last_good = obj.last_good & (keep > 0)

    def _output(
        self,
        objects: dict[int, _Object],
        small: Frame,
        here: list[Prompt],
        prompts: list[Prompt],
        scale: float,
        size: tuple[int, int],
    ) -> Mask:
        union = np.zeros(small.shape[:2], dtype=bool)
        for obj in objects.values():
            if obj.lost_for == 0:
                union |= obj.soft > 0.5
            elif obj.lost_for <= _HOLD_FRAMES:
                union |= obj.last_good
        union = _dilate(union, self._px(small, self._margin))
        # A negative click on this frame always wins over the margin.
        radius = self._px(small, 0.02)
        canvas = union.astype(np.uint8)
        for p in here:
            if not p.positive:
                cv2.circle(canvas, (int(p.x * scale), int(p.y * scale)), radius, 0, -1)
        if (small.shape[1], small.shape[0]) != size:
            canvas = np.asarray(
                cv2.resize(canvas, size, interpolation=cv2.INTER_NEAREST), dtype=np.uint8
            )
        result: Mask = canvas > 0
        return result

    @staticmethod
    def _px(small: Frame, share: float) -> int:
        return max(1, round(max(int(small.shape[0]), int(small.shape[1])) * share))


def _centroid(mask: Mask) -> npt.NDArray[np.float64]:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()]) if len(xs) else np.zeros(2)


def _blobs_in(found: npt.NDArray[np.uint8], search: Mask, least: float, most: float) -> list[Mask]:
    """Whole blobs of ``found`` a good part of which lies in ``search`` (a blob only
    partly inside is still the whole object), of ``least`` to ``most`` pixels."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(found)
    inside = np.bincount(labels[search & (found > 0)], minlength=len(stats))
    areas = stats[:, cv2.CC_STAT_AREA]
    return [
        labels == k
        for k in np.nonzero(inside)[0]
        if k and least <= areas[k] <= most and inside[k] >= 0.25 * areas[k]
    ]


def _parts_of(mask: Mask, core: Mask) -> Mask:
    """The components of ``mask`` that mostly lie in ``core`` (the object carried over by
    flow), plus the one overlapping it most: parts of the object that came apart (legs
    with grass between them) all stay, stray same-coloured blobs outside it go."""
    # Labelling only the box around both is several times cheaper than the frame.
    x, y, w, h = cv2.boundingRect((mask | core).astype(np.uint8))
    if w == 0:
        return mask
    box = mask[y : y + h, x : x + w]
    count, labels, stats, _ = cv2.connectedComponentsWithStats(box.astype(np.uint8))
    local_core = core[y : y + h, x : x + w]
    if count <= 2 or not local_core.any():
        return mask
    overlap = np.bincount(labels[local_core], minlength=count)
    overlap[0] = 0
    if overlap.max() == 0:
        return mask
    keep = overlap >= _PART_INSIDE * stats[:, cv2.CC_STAT_AREA]
    keep[int(np.argmax(overlap))] = True
    keep[0] = False
    result: Mask = np.zeros_like(mask)
    result[y : y + h, x : x + w] = keep[labels]
    return result


def _main_component(mask: Mask, core: Mask) -> Mask:
    """The component of ``mask`` overlapping ``core`` most (drops stray same-coloured
    blobs); all of ``mask`` when ``core`` is empty."""
    count, labels = cv2.connectedComponents(mask.astype(np.uint8))
    if count <= 2 or not core.any():
        return mask
    overlap = np.bincount(labels[core], minlength=count)
    overlap[0] = 0
    if overlap.max() == 0:
        return mask
    result: Mask = labels == int(np.argmax(overlap))
    return result
