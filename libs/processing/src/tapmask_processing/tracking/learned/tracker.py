"""The learned tracker's driver: carry every object by flow, ask SAM on keyframes.

Per frame:
1. every object is carried by DIS optical flow (shared by all objects, ~3 ms at 512 px)
   and, when NanoTrack v2 is installed, its box followed by NanoTrack (~5 ms), which
   also moves the carried shape where flow lags a fast object (``carry``);
2. the frame is a keyframe when a click is on it, when an object is due
   (``keyframe_every``), or when the cheap signals disagree (the carried mask shrinks or
   swells, NanoTrack's box or score drops away from it, the mask vanishes or is a part
   of what was clicked); then SAM re-segments each object (``resegment``), or searches
   for a lost one (``search``), and each object's state moves (``state``);
3. clicks on the frame start objects or correct them (``clicks``);
4. the output is the union of the objects' masks with the privacy margin (``output``).

Cost on 2 cores: an encoder run a keyframe (0.65-0.8 s on onnxruntime, 0.31 s on
OpenVINO in bfloat16), ~40-75 ms a decoder call, ~15 ms a frame otherwise. ``01_dog.mp4``
(289 frames, 720p): about 20 keyframes and 100 decoder calls. Memory is per object (a mask,
a few feature vectors), flat in the video's length.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from tapmask_processing.tracking.learned.clicks import apply_click
from tapmask_processing.tracking.learned.frame import FrameView
from tapmask_processing.tracking.learned.geometry import (
    box_iou,
    box_mask,
    centre,
    deepest,
    shift,
    touches_edge,
)
from tapmask_processing.tracking.learned.output import output_mask
from tapmask_processing.tracking.learned.resegment import resegment
from tapmask_processing.tracking.learned.search import search
from tapmask_processing.tracking.learned.settings import LearnedSettings
from tapmask_processing.tracking.learned.state import Phase, TrackedObject
from tapmask_processing.tracking.motion import FlowEngine, Gray, warp_mask
from tapmask_processing.tracking.sam_onnx import SamOnnx
from tapmask_processing.tracking.sam_prompting import bbox
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
    review_ranges,
    validate_prompts,
)

log = logging.getLogger("tapmask.tracker.learned")


class LearnedTracker:
    """SAM keyframes + memory + flow + NanoTrack (see the module docstring). Reusable."""

    def __init__(
        self,
        sam: SamOnnx,
        nanotrack: tuple[Path, Path] | None = None,
        settings: LearnedSettings | None = None,
    ) -> None:
        self.max_side: int | None = 1024  # SAM's input size: finer frames buy nothing
        self.name = "learned"
        self.review: list[ReviewSpan] = []
        self.settings = settings or LearnedSettings()
        self._sam = sam
        self._nanotrack = nanotrack
        #: Keyframes (encoder runs) of the latest stream, for benchmarks.
        self.keyframes = 0
        self._streams = 0  # streams started: only the latest one's review is kept

    def track(self, frames: Iterable[Frame], prompts: Sequence[Prompt]) -> Iterator[Mask]:
        validate_prompts(prompts)
        return self._run(iter(frames), list(prompts))

    # -- streaming driver ---------------------------------------------------------------

    def _run(self, source: Iterator[Frame], prompts: list[Prompt]) -> Iterator[Mask]:
        s = self.settings
        # Frames read ahead of the one being tracked: only at a click, at most
        # ``motion_lookahead`` of them (memory stays bounded).
        ahead: deque[Frame] = deque()

        def frames() -> Iterator[Frame]:
            while True:
                if ahead:
                    yield ahead.popleft()
                    continue
                frame = next(source, None)
                if frame is None:
                    return
                yield frame

        def later(view: FrameView) -> Gray | None:
            while len(ahead) < s.motion_lookahead:
                frame = next(source, None)
                if frame is None:
                    break
                ahead.append(frame)
            if not ahead or ahead[-1].shape != view.frame.shape or ahead[-1].dtype != np.uint8:
                return None
            return FrameView.of(self._sam, ahead[-1], view.index + len(ahead), s.work_side).gray

        self.review = []
        self.keyframes = 0
        self._streams += 1
        stream = self._streams
        objects: dict[int, TrackedObject] = {}
        flow = FlowEngine()
        prev_gray: Gray | None = None
        size: tuple[int, int] | None = None
        flags: list[tuple[int, str]] = []
        index = -1
        last_keyframe = -s.min_key_gap_all
        with_positive = {p.object_id for p in prompts if p.positive}
        for index, frame in enumerate(frames()):
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
            view = FrameView.of(self._sam, frame, index, s.work_side)
            here = [p for p in prompts if p.frame == index]
            # 1. carry every object to this frame; decide whether SAM must look.
            if objects and prev_gray is not None:
                backward = flow.calc(view.gray, prev_gray)
                need_key = False
                for obj in objects.values():
                    # Decoys ride along on the keyframes their objects need.
                    need_key |= self._carry(obj, backward, view) and not obj.decoy
                if here or (need_key and index - last_keyframe >= s.min_key_gap_all):
                    self._keyframe(objects, view)
                    last_keyframe = index
            # 2. clicks on this frame: new objects and corrections.
            clicked = {p.object_id for p in here}
            for object_id in sorted(clicked):
                positives = [p for p in here if p.positive and p.object_id == object_id]
                cuts = [p for p in negatives_for(prompts, object_id) if p.frame == index]
                if not positives and object_id not in objects:
                    continue  # a negative for every object: applied below per object
                apply_click(self._sam, s, objects, object_id, positives, cuts, view,
                            self._new_box_tracker, later(view) if positives else None)
            if {p.object_id for p in here if not p.positive} - with_positive:
                for obj in list(objects.values()):
                    if obj.object_id not in clicked:
                        cuts = [p for p in negatives_for(prompts, obj.object_id)
                                if p.frame == index]
                        apply_click(self._sam, s, objects, obj.object_id, [], cuts, view,
                                    self._new_box_tracker)
            for obj in objects.values():
                reason = obj.review_reason(left=s.flag_left, doubt=s.flag_doubt)
                if reason is not None:
                    flags.append((index, reason))
            self.keyframes += int(view.encoded)
            yield output_mask(s, objects.values(), view.shape, index)
            prev_gray = view.gray
        check_all_prompts_used(prompts, index + 1)
        flags.sort()
        # A stream left running by an abandoned job (its stage timed out while it was
        # stuck) must not overwrite the review of the job that runs after it.
        if stream == self._streams:
            self.review = review_ranges(flags)

    # -- per object ---------------------------------------------------------------------

    def _carry(self, obj: TrackedObject, backward: npt.NDArray[np.float32],
               view: FrameView) -> bool:
        """Move ``obj`` by the flow (and NanoTrack); True when SAM should look at it."""
        s = self.settings
        index = view.index
        obj.settle(index, s.regrow_frames)
        if obj.mask.any():
            obj.last_seen = obj.mask
        warped = warp_mask(obj.mask.astype(np.float32), backward) > 0.5
        obj.nano_box = None
        nano_ok = True
        if obj.box_tracker is not None and warped.any():
            ok, rect = obj.box_tracker.update(view.bgr)
            score = float(obj.box_tracker.getTrackingScore())
            nano_ok = bool(ok) and score >= s.min_nano_score
            if nano_ok:
                x, y, w, h = rect
                obj.nano_box = (float(x), float(y), float(x + w), float(y + h))
        carried = bbox(warped)
        disagree = False
        if obj.nano_box is not None and carried is not None:
            disagree = box_iou(obj.nano_box, carried) < 0.5
            if nano_ok and disagree:
                # Flow lags a fast object (motion blur, large steps); NanoTrack's box does
                # not: move the carried shape onto it.
                warped = shift(warped, centre(obj.nano_box), centre(carried))
        obj.mask = warped
        since_key = index - obj.last_key
        obj.doubtful = False
        if obj.lost:
            gap = min(s.search_first * 2 ** min(obj.searches, 8), max(1, s.keyframe_every // 3))
            return bool(since_key >= gap)
        if not warped.any():
            if obj.last_seen is not None and not touches_edge(obj.last_seen):
                obj.mask = obj.last_seen  # vanished inside the frame: keep it covered
            return True
        ratio = float(warped.sum()) / max(obj.key_area, 1.0)
        due = since_key >= s.keyframe_every
        partial = float(warped.sum()) < s.partial_share * obj.ref_area
        returning = obj.regrowing(index, s.regrow_frames)
        # Partial and found again lately: coming back in through an edge (the dog's head
        # first at frame 105, its body 5 frames later), so SAM looks again soon.
        gap = s.min_key_gap_all if partial and returning else (
            s.min_key_gap * (2 if partial and not disagree else 1)
        )
        low, high = s.area_range
        obj.doubtful = not (low <= ratio <= high) or not nano_ok or disagree
        doubt = since_key >= gap and (obj.doubtful or partial)
        if due or doubt:
            log.debug(
                "frame %d object %d keyframe: due=%s area=%.2f nano_ok=%s disagree=%s",
                index, obj.object_id, due, ratio, nano_ok, disagree,
            )
        return due or doubt

    def _keyframe(self, objects: dict[int, TrackedObject], view: FrameView) -> None:
        s = self.settings
        index = view.index
        for obj in objects.values():
            others = [
                p for o in objects.values() if o is not obj
                for p in [deepest(o.mask)] if p is not None
            ]
            negatives = [view.to_frame(p) for p in others]
            found_again = False
            if not obj.lost and obj.mask.any():
                found = resegment(self._sam, s, obj, view, negatives)
            else:
                taken = np.zeros(obj.mask.shape, bool)
                for other in objects.values():
                    if other is not obj:
                        taken |= other.mask
                found = search(self._sam, s, obj, view, negatives, taken)
                found_again = found is not None
            if found is not None:
                obj.take(found, index, self._new_box_tracker(view.bgr, found), found=found_again)
                continue
            unsure_for = index - obj.since if obj.phase is Phase.UNSURE else 0
            # At the frame's edge a mask SAM cannot confirm is held for a few frames while
            # NanoTrack still follows something there: on 01_dog the blurred dog sprints
            # out through the right edge over frames 65-76 and SAM's answers there look
            # unlike it (cosine -0.4 to -0.2; so does NanoTrack's box: motion blur):
            # dropping it at the first failed keyframe left it visible for 10 frames.
            # Not longer: NanoTrack then sits on the empty pavement and held a ghost.
            followed = obj.nano_box is not None and not obj.decoy and unsure_for < s.edge_follow
            leaving = not obj.mask.any() or (touches_edge(obj.mask) and not followed)
            if not obj.lost and not leaving and unsure_for < s.hold_frames:
                # Keep the carried mask, widened on output, and look again soon; where
                # NanoTrack follows the object, cover its box too (the carried shape lags
                # a fast object: on 01_dog at frame 66 it trailed 190 px behind).
                if obj.nano_box is not None and not obj.decoy:
                    obj.mask = obj.mask | box_mask(obj.nano_box, obj.mask.shape)
                obj.doubt(index, s.keyframe_every // 2)
            else:
                obj.lose(index)

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
