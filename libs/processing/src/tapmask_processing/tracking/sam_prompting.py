"""From clicks to the whole object, and what an object looks like, with SAM.

A single click often lands on a *part* (a shirt, a trouser leg, a dog's flank) and SAM,
asked with one point, returns its most confident mask, which is often that part. The
user means the whole thing. ``whole_object`` grows the answer: it asks again with the
clicks plus a box around the current mask, widened by half its size, and keeps the
answer while it contains the last one, stays confident, and does not run into the box's
edges (a mask that fills its box is spilling into the background, not finding an edge).
It stops once a step adds under 15%, and never takes a step whose added pixels look
unlike what it had (``PART_SIMILARITY``).

Chosen on the shared clips' clicks, each looked at (frame 0): the dog's flank gave the
rear half (10.5k px) and grows to the whole dog, head included (16.7k px); the woman's
trouser leg grows to the whole woman; the boy's shirt, the juggler's shirt and the
girl give the whole child / person; the cups' ball, the mug and the kettle stay as they
were. A box scan centred on the click (no growth) picked the woman's arm with the dog
and the hand with the mug. Five decoder calls at most: ~0.1-0.3 s once per object.

SAM still leaves out parts that look unlike the rest: the dog's white head and chest
next to its brown body, at every box size tried. ``add_parts`` asks SAM about 12 points on
a ring just outside the mask and adds each answer that touches the object, is smaller
than it, looks like it (``appearance``) and reaches out of the object's box (a head, a
limb). On the dog at frame 0 that adds the head (cosine 0.81, 28% of it within the
body's box) and leaves the planter (0.28); the pillow between the jumping girl's legs in
``bedroom.mp4`` looks like her (0.79) but lies 47% within her box, and stays out. Twelve
decoder calls, ~0.5 s (one call is ~40 ms on 2 cores). Keyframes then keep such parts by
prompting with points spread over the carried mask (``spread_points``): four points and
a box give back 94% of the dog with its head, one point 65%.

``appearance`` is the object's SAM feature vector (the mean of the unit-length 256-d
features under the mask): the learned tracker compares candidates with it to keep an
object's identity and to find it again after it was lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np
import numpy.typing as npt

from tapmask_processing.tracking.morphology import dilate, disc
from tapmask_processing.tracking.sam_onnx import Embedding, FloatArray, SamOnnx, Segmentation
from tapmask_processing.tracking.tracking import Mask

Point = tuple[float, float]
Box = tuple[float, float, float, float]

#: A first answer covering more than this share of the frame is background, not a thing.
MAX_OBJECT_SHARE = 0.3
_MIN_SCORE = 0.7
_KEEP = 0.7
_STOP_GROWTH = 1.15
_GROW_STEPS = 4
#: What growth or a part added beside the object must look like it (cosine of centred
#: features). What growing added, measured: the dog's front 0.79, the woman's upper body
#: 0.86; the pillows beside the girl 0.72, the mug's shadow 0.56, the hand holding the
#: juggler's ball 0.53.
PART_SIMILARITY = 0.75


def bbox(mask: Mask) -> Box | None:
    """(x0, y0, x1, y1), exclusive ends, of the mask's pixels; ``None`` when empty."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def pad_box(box: Box, frac: float, width: int, height: int, minimum: float = 4.0) -> Box:
    """``box`` grown by ``frac`` of its larger side on every side, clipped to the frame."""
    pad = max(box[2] - box[0], box[3] - box[1]) * frac + minimum
    return (
        max(0.0, box[0] - pad),
        max(0.0, box[1] - pad),
        min(float(width), box[2] + pad),
        min(float(height), box[3] + pad),
    )


def _edges_touched(mask: Mask, box: Box, width: int, height: int) -> int:
    """Sides of ``box`` (those inside the frame) that the mask reaches."""
    b = bbox(mask)
    if b is None:
        return 0
    return sum(
        (
            box[0] > 0 and b[0] <= box[0] + 1,
            box[1] > 0 and b[1] <= box[1] + 1,
            box[2] < width and b[2] >= box[2] - 1,
            box[3] < height and b[3] >= box[3] - 1,
        )
    )


def _contains(mask: Mask, point: Point) -> bool:
    h, w = mask.shape
    x, y = min(int(point[0]), w - 1), min(int(point[1]), h - 1)
    return bool(mask[y, x])


def whole_object(
    sam: SamOnnx,
    emb: Embedding,
    positives: Sequence[Point],
    negatives: Sequence[Point] = (),
    grid: FloatArray | None = None,
) -> Segmentation:
    """The whole object the clicks are on (see the module docstring). With ``grid``
    (``Embedding.grid()``), growth only takes what looks like what it has."""
    points = [*positives, *negatives]
    labels = [1] * len(positives) + [0] * len(negatives)
    w, h = emb.width, emb.height
    seg = sam.segment(emb, points, labels)
    if seg.mask.mean() > MAX_OBJECT_SHARE or not _contains(seg.mask, positives[0]):
        # The first answer is the ground or the sky: start from a small box instead.
        x, y = positives[0]
        side = 0.04 * float(np.hypot(w, h))
        seg = sam.segment(emb, points, labels, box=(x - side, y - side, x + side, y + side))
        if seg.score < _MIN_SCORE and len(positives) == 1:
            near = _near_miss(sam, emb, positives[0], negatives)
            if near is not None:
                seg, point = near
                positives = [point]
    return grow(sam, emb, seg, positives, negatives, grid)


def _near_miss(
    sam: SamOnnx, emb: Embedding, click: Point, negatives: Sequence[Point]
) -> tuple[Segmentation, Point] | None:
    """The thing right beside a click that landed on the background, and the point on it.

    A click a few pixels off a thin object lands on what is behind it: the manifest's
    "person" click on ``05_default_juggle.mp4`` (707, 440) is in the grass between the
    juggler's legs; SAM's answer there is the lawn (57% of the frame) and a box around the
    click gives fragments at score 0.55, which lost him by frame 120. Asked 2% of the
    frame's diagonal away (29 px at 720p) in eight directions, SAM gives his trousers at
    score 1.00 on either side; the most confident thing of object size is taken."""
    w, h = emb.width, emb.height
    radius = 0.02 * float(np.hypot(w, h))
    best: tuple[float, Segmentation, Point] | None = None
    for angle in np.linspace(0.0, 2 * np.pi, 8, endpoint=False):
        point = (
            float(np.clip(click[0] + radius * np.cos(angle), 0, w - 1)),
            float(np.clip(click[1] + radius * np.sin(angle), 0, h - 1)),
        )
        seg = sam.segment(emb, [point, *negatives], [1] + [0] * len(negatives))
        if (
            seg.score < _MIN_SCORE
            or not _contains(seg.mask, point)
            or seg.mask.mean() > MAX_OBJECT_SHARE
        ):
            continue
        if best is None or seg.score > best[0]:
            best = (seg.score, seg, point)
    return None if best is None else (best[1], best[2])


def grow(
    sam: SamOnnx,
    emb: Embedding,
    seg: Segmentation,
    positives: Sequence[Point],
    negatives: Sequence[Point] = (),
    grid: FloatArray | None = None,
) -> Segmentation:
    """``seg`` grown towards the whole object (the steps of ``whole_object``)."""
    points = [*positives, *negatives]
    labels = [1] * len(positives) + [0] * len(negatives)
    w, h = emb.width, emb.height
    current = seg
    for _ in range(_GROW_STEPS):
        box = bbox(current.mask)
        if box is None:
            break
        wide = pad_box(box, 0.25, w, h, minimum=8.0)
        step = sam.segment(emb, points, labels, box=wide)
        area = float(current.mask.sum())
        kept = float((step.mask & current.mask).sum()) / max(area, 1.0)
        touched = _edges_touched(step.mask, wide, w, h)
        if (
            step.score < _MIN_SCORE
            or kept < _KEEP
            or touched >= 2
            or step.mask.mean() > MAX_OBJECT_SHARE
            or not all(_contains(step.mask, p) for p in positives)
        ):
            break
        if grid is not None and not _looks_alike(grid, step.mask & ~current.mask, current.mask):
            break
        growth = float(step.mask.sum()) / max(area, 1.0)
        current = step
        if growth < _STOP_GROWTH or touched:
            break
    return current


def spread_points(mask: Mask, count: int) -> list[Point]:
    """Up to ``count`` points well inside ``mask``, far apart (farthest-point sampling
    over pixels at least 30% as deep as the deepest)."""
    depth = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    peak = float(depth.max())
    if peak <= 0:
        return []
    ys, xs = np.nonzero(depth >= min(peak, max(1.0, 0.3 * peak)))
    cand = np.stack([xs, ys], axis=1).astype(np.float64)
    y0, x0 = np.unravel_index(int(np.argmax(depth)), depth.shape)
    points: list[Point] = [(float(x0), float(y0))]
    nearest = np.hypot(cand[:, 0] - x0, cand[:, 1] - y0)
    for _ in range(count - 1):
        i = int(np.argmax(nearest))
        if nearest[i] < 2.0:
            break
        px, py = float(cand[i, 0]), float(cand[i, 1])
        points.append((px, py))
        nearest = np.minimum(nearest, np.hypot(cand[:, 0] - px, cand[:, 1] - py))
    return points


def add_parts(
    sam: SamOnnx, emb: Embedding, mask: Mask, ref: FloatArray, grid: FloatArray,
    similar: float = PART_SIMILARITY, ring_points: int = 12, max_part: float | None = None,
) -> Mask:
    """``mask`` plus the parts beside it that SAM keeps apart but that look like the
    object (see the module docstring). A part may be up to ``max_part`` pixels (default:
    half of ``mask``: parts are smaller than the thing)."""
    area = float(mask.sum())
    limit = 0.5 * area if max_part is None else max_part
    if area == 0:
        return mask
    radius = max(4, round(0.08 * float(np.sqrt(area))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    near = cv2.dilate(mask.astype(np.uint8), kernel)
    contours, _ = cv2.findContours(near, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return mask
    ring = max(contours, key=len)[:, 0, :]
    picks = ring[np.linspace(0, len(ring) - 1, ring_points, endpoint=False).astype(int)]
    near_mask = near.astype(bool)
    x0, y0, x1, y1 = (int(v) for v in bbox(mask) or (0, 0, 0, 0))
    within = np.zeros_like(mask)
    within[y0:y1, x0:x1] = True
    whole = mask.copy()
    for px, py in picks:
        if whole[py, px]:
            continue  # inside a part already added: SAM would give it again
        part = sam.segment(emb, [(float(px), float(py))])
        got = float(part.mask.sum())
        if got == 0 or got > limit or part.score < 0.7:
            continue
        if not (part.mask & near_mask).any() or float((part.mask & mask).sum()) > 0.5 * got:
            continue
        if float((part.mask & within).sum()) > 0.4 * got:
            continue  # lies within the object's outline: a thing in front or behind
        look = appearance(grid, part.mask)
        if look is not None and float(look @ ref) >= similar:
            whole |= part.mask
    return whole


def _looks_alike(grid: FloatArray, added: Mask, base: Mask) -> bool:
    if float(added.sum()) < 0.02 * float(base.sum()):
        return True
    new, old = appearance(grid, added), appearance(grid, base)
    return new is None or old is None or float(new @ old) >= PART_SIMILARITY


def appearance(emb_grid: FloatArray, mask: Mask) -> FloatArray | None:
    """Unit-length mean SAM feature under ``mask`` (frame pixels), or ``None`` when the
    mask covers no feature cell. ``emb_grid`` is ``Embedding.grid()`` (64 x 64 x 256)."""
    cells = emb_grid.shape[0]
    h, w = mask.shape
    side = max(h, w)
    # The frame occupies the top-left of SAM's padded square: pad the mask the same way.
    square = np.zeros((side, side), np.float32)
    square[:h, :w] = mask
    share = np.asarray(cv2.resize(square, (cells, cells), interpolation=cv2.INTER_AREA), np.float32)
    weights = np.where(share >= 0.5, share, np.float32(0.0)).astype(np.float32)
    if weights.sum() < 1e-3:
        # A small object fills no cell by half: weigh the cells it touches by coverage.
        weights = share
    total = float(weights.sum())
    if total < 1e-3:
        return None
    vec = np.tensordot(weights, emb_grid, axes=([0, 1], [0, 1])) / total
    norm = float(np.linalg.norm(vec))
    if norm < 1e-6:
        return None
    result: FloatArray = (vec / norm).astype(np.float32)
    return result


def similarity_map(emb_grid: FloatArray, ref: FloatArray) -> npt.NDArray[np.float32]:
    """Cosine similarity of every feature cell with ``ref`` (64 x 64)."""
    sims: npt.NDArray[np.float32] = np.tensordot(emb_grid, ref, axes=([2], [0])).astype(
        np.float32
    )
    return sims


def click_to_object(
    sam: SamOnnx,
    emb: Embedding,
    positives: Sequence[Point],
    negatives: Sequence[Point] = (),
    grid: FloatArray | None = None,
    moves_with: Callable[[Mask, Mask], bool] | None = None,
) -> Segmentation:
    """The object a person's clicks mean: ``whole_object``, plus its parts that SAM keeps
    apart (``add_parts``); and, where the video shows it, SAM's whole-level answer to the
    click when that moves with what the click took (``moves_with(part, whole)``, see
    ``whole_by_motion``). The one "click to object" of TapMask: the web app's preview and
    the learned tracker's clicks both call it.

    Why motion decides: a click on a shirt and a click on a ball in a hand are the same
    question to SAM (its whole-level answer is the person, or the hand with the ball). On
    the tracking benchmark's tuning split (frame 0, click at the deepest point of the
    object) that answer had 7 of the 10 people whose click gave only a part (recall 0.15-
    0.50 -> 0.93-0.99), and was a spill in 15 other sequences (a mug with the table, a ball
    with the hand; precision 0.05-0.41). Whether the added region moves with the part or
    with what surrounds it, over the next 3 frames, took 7 of the 10 and 1 of the 15 (a
    woman's mask with a slice of background: recall 0.35 -> 0.96, precision 0.58)."""
    grid = emb.grid() if grid is None else grid
    seg = whole_object(sam, emb, list(positives), list(negatives), grid)
    first = appearance(grid, seg.mask)
    if first is not None:
        seg = Segmentation(add_parts(sam, emb, seg.mask, first, grid), seg.score, seg.logits)
    if moves_with is None or not positives:
        return seg
    levels = sam.segment_levels(emb, positives[0])
    if not levels:
        return seg
    whole = levels[-1]
    area = float(seg.mask.sum())
    if (
        whole.score < _MIN_SCORE
        or whole.mask.mean() > MAX_OBJECT_SHARE
        or float(whole.mask.sum()) < 1.2 * area
        or float((whole.mask & seg.mask).sum()) < 0.8 * area
        or not all(_contains(whole.mask, p) for p in positives)
        or any(_contains(whole.mask, p) for p in negatives)
    ):
        return seg
    if not moves_with(seg.mask, whole.mask):
        return seg
    return Segmentation(seg.mask | whole.mask, whole.score, whole.logits)


#: Frames on from a click where ``motion_judge`` looks (the tracker reads that far ahead at a
#: click; the preview decodes that frame too). Three: enough motion to measure in most
#: sequences of the tuning split, few enough that the object rarely changes shape.
MOTION_LOOKAHEAD = 3
#: The side frames are compared at for ``motion_judge`` (the learned tracker's working size,
#: which ``whole_by_motion``'s ring widths are in).
MOTION_SIDE = 512


def motion_gray(rgb: npt.NDArray[np.uint8], side: int = MOTION_SIDE) -> npt.NDArray[np.uint8]:
    """``rgb`` as grey, its longer side at most ``side`` (what ``motion_judge`` compares)."""
    h, w = rgb.shape[:2]
    scale = min(1.0, side / max(h, w))
    small = cv2.resize(rgb, (round(w * scale), round(h * scale)),
                       interpolation=cv2.INTER_AREA) if scale < 1.0 else rgb
    return np.asarray(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), np.uint8)


def motion_judge(
    now: npt.NDArray[np.uint8], later: npt.NDArray[np.uint8], ratio: float = 0.8
) -> Callable[[Mask, Mask], bool]:
    """``click_to_object``'s ``moves_with`` from two grey frames (``motion_gray``): the
    clicked one and one a few frames on. The web app's preview and the tracker both use
    it, so the preview shows the object the job will take."""
    from tapmask_processing.tracking.motion import FlowEngine

    # MEDIUM, not the tracker's ULTRAFAST: once a click, and steps of 3 frames (up to
    # 45 px in the benchmark's fast sequences) need its finer search.
    flow = FlowEngine(cv2.DISOpticalFlow_PRESET_MEDIUM).calc(now, later)
    shape = (int(now.shape[0]), int(now.shape[1]))

    def moves(part: Mask, whole: Mask) -> bool:
        return whole_by_motion(resize_mask(part, shape), resize_mask(whole, shape), flow, ratio)

    return moves


def resize_mask(mask: Mask, shape: tuple[int, int]) -> Mask:
    """``mask`` at ``shape`` (area-averaged, then thresholded at half)."""
    if mask.shape == shape:
        return mask
    small = cv2.resize(mask.astype(np.uint8) * 255, (shape[1], shape[0]),
                       interpolation=cv2.INTER_AREA)
    out: Mask = np.asarray(small) >= 128
    return out


def whole_by_motion(part: Mask, whole: Mask, flow: FloatArray, ratio: float = 0.8) -> bool:
    """Whether what ``whole`` adds to ``part`` moves with ``part`` rather than with what
    surrounds ``whole``: its median motion (``flow``: H x W x 2, the click frame to a few
    frames later, at the masks' size) is nearer the part's than the surroundings' by
    ``ratio``. ``False`` where there is too little of any of the three to say.

    ``ratio`` 0.8 was chosen on the tuning split (see ``click_to_object``): the added
    region of the 10 people moved with their part (ratios 0.02-0.98, 7 under 0.8 and 3
    at 1.66-1.80 where limbs swing), that of 14 of 15 spills with the background (1.5-444)."""
    inner = _erode(part, 2)
    if inner.sum() < 20:
        inner = part
    extra = whole & ~dilate(part, 2)
    ring = dilate(whole, 12) & ~dilate(whole, 3)
    if min(int(inner.sum()), int(extra.sum()), int(ring.sum())) < 20:
        return False
    fp, fe, fr = (np.median(flow[m], axis=0) for m in (inner, extra, ring))
    return float(np.linalg.norm(fe - fp)) <= ratio * float(np.linalg.norm(fe - fr))


def _erode(mask: Mask, px: int) -> Mask:
    out: Mask = cv2.erode(mask.astype(np.uint8), disc(px)) > 0
    return out
