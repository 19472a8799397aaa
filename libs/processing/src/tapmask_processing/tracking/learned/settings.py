"""Every tunable of the learned tracker, in one validated, frozen object.

Why one object: the tracker grew 17 module constants and dozens of inline numbers, each
read deep inside a method; a benchmark cannot sweep them, and nobody could say which
clip chose which. Here each field says what it does and what chose its value. Values
marked *shared clips* were chosen by looking at ``01_dog.mp4``, ``bedroom.mp4`` and DAVIS
tennis (the frames ``tests/e2e/test_learned_tracking.py`` checks), before the generated
benchmark existed; values marked *tuning split* were chosen on the generated benchmark's
tuning split (``bench/bench_tracking_suite.py --split tuning``) and are reported on its
evaluation split in the README.
"""

from __future__ import annotations

from dataclasses import dataclass

from tapmask_processing.tracking.sam_prompting import MOTION_LOOKAHEAD


@dataclass(frozen=True)
class LearnedSettings:
    """The learned tracker's tunables (see the module docstring for where each came from)."""

    # -- cadence ---------------------------------------------------------------------------
    #: Frames between keyframes when nothing asks for one sooner (shared clips: 01_dog's
    #: 20 keyframes over 289 frames; every 15 frames doubled the encoder time for no point
    #: the e2e tests check).
    keyframe_every: int = 30
    #: Longest side the masks are carried at (flow, NanoTrack, output). 512 px: DIS flow
    #: ~3 ms a frame; the keyframe's answers come from SAM at 1024 px anyway.
    work_side: int = 512
    #: Frames between any two keyframes not asked for by a click (the encoder is ~0.45-0.8 s:
    #: a small mask that kept vanishing under the flow asked for one every other frame).
    min_key_gap_all: int = 3
    #: Frames between keyframes asked for by doubt alone (not by a vanished mask or a click).
    min_key_gap: int = 4
    #: The carried mask's area relative to the last keyframe's outside this range asks for a
    #: keyframe at once (shared clips).
    area_range: tuple[float, float] = (0.6, 1.6)
    #: Carried area under this share of the clicked area: a part, or half hidden.
    partial_share: float = 0.6

    #: At a click, frames looked ahead to see what moves with the clicked part, and the
    #: motion ratio under which SAM's whole-level answer is taken (``sam_prompting.
    #: whole_by_motion``; tuning split: 7 of 10 partial people made whole, 1 of 15 spills
    #: taken). 0: never look ahead (one answer per click, as before).
    motion_lookahead: int = MOTION_LOOKAHEAD
    whole_motion_ratio: float = 0.8

    # -- identity (cosine of centred SAM features, ``Embedding.grid``) ------------------------
    #: A candidate must look at least this much like the object (01_dog: the dog 144
    #: frames on 0.90, the woman 0.35, a planter 0.43; bedroom: the other child 0.80:
    #: identity there rests on continuity and on the look-alike memory).
    same_object: float = 0.6
    #: ... and, found again away from where it was carried, this much.
    found_again: float = 0.8
    #: ... or this much where NanoTrack followed it confidently (motion blur lowers the
    #: cosine: the dog running out of 01_dog at frame 58: 0.73).
    followed: float = 0.68
    #: Searching a lost object: the least similarity, distance paid, to take it back.
    refound: float = 0.72
    #: ... and the similarity lost per frame diagonal of distance from where it was last
    #: seen (01_dog: the woman's hair matches the lost dog's fur at 0.82 from across the
    #: frame; the dog coming back through its edge at 0.83-0.88).
    distance_cost: float = 0.5
    #: A candidate that looks more like a remembered look-alike than like the object by
    #: this margin is the look-alike (memory: ``AppearanceMemory.identity``).
    lookalike_margin: float = 0.0

    # -- memory -----------------------------------------------------------------------------
    #: Appearances remembered per object besides the clicked one: taken on keyframes whose
    #: answer is trusted (agrees with the carried mask and looks like the object).
    memory_size: int = 6
    #: A keyframe's answer is trusted into memory when it looks like the object this much
    #: and overlaps the carried mask this much (IoU).
    memory_trust: float = 0.8
    memory_overlap: float = 0.6

    # -- re-segmentation ----------------------------------------------------------------------
    #: A keyframe's answer larger than this many times the clicked object is a spill ...
    max_growth: float = 2.5
    #: ... and larger than this many times the carried mask has merged with something.
    max_step: float = 1.8
    #: SAM's own score under which an answer is not taken.
    min_sam_score: float = 0.5
    #: NanoTrack's score under which its box is not followed.
    min_nano_score: float = 0.5
    #: For this many frames after an object is found again, keyframes look for its other
    #: parts (01_dog: its head comes back in first at frame 105, its body 5 frames later).
    regrow_frames: int = 45

    # -- when SAM cannot confirm it ---------------------------------------------------------
    #: Frames an object SAM cannot confirm is followed at the frame's edge while NanoTrack
    #: still follows something there (01_dog: the blurred dog sprints out over frames
    #: 65-76; longer, NanoTrack sat on the empty pavement and held a ghost).
    edge_follow: int = 9
    #: A lost object is searched for this many frames after it was lost, then at gaps that
    #: double up to ``keyframe_every // 3``: most objects that vanish come back soon
    #: (an occluder passes, a dog runs out and back), and a search is an encoder run.
    search_first: int = 3
    #: Frames a lost object's last mask stays, widened, inside the frame (a privacy tool must
    #: not reveal what it could not see).
    hold_frames: int = 45

    # -- what a person is told -----------------------------------------------------------
    #: List the frames after an object left through the frame's edge until it is found
    #: again ("left the frame; not found since"): if it came back unseen, it shows there.
    flag_left: bool = True
    #: List (and widen, by ``unsure_widen``) the frames between keyframes where the cheap
    #: signals doubt the carried mask (its area left ``area_range``, or NanoTrack's box
    #: disagrees with it or lost its score): flow may have slipped off the object.
    flag_doubt: bool = True
    widen_doubt: bool = True

    # -- output -----------------------------------------------------------------------------
    #: The privacy margin, as a share of the working frame's diagonal.
    margin: float = 0.008
    #: Extra widening of an unsure object's mask, and of a held one, in margins.
    unsure_widen: int = 3
    held_widen: int = 4
    #: How far past the carried mask the keyframe's shape riding on NanoTrack's box may
    #: cover, in square roots of the object's area (DAVIS tennis: 0.15 / 0.08 / 0.04 gave
    #: precision 0.753 / 0.780 / 0.798; the dog's chest and face are covered by any).
    rigid_reach: float = 0.04

    def __post_init__(self) -> None:
        if self.keyframe_every < 1 or self.min_key_gap < 1 or self.min_key_gap_all < 1:
            raise ValueError("keyframe gaps must be at least 1 frame")
        if self.work_side < 64:
            raise ValueError("work_side must be at least 64 px")
        low, high = self.area_range
        if not 0 < low < 1 < high:
            raise ValueError("area_range must be (low < 1 < high), both positive")
        for name in ("same_object", "found_again", "followed", "refound", "memory_trust"):
            if not -1.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a cosine: between -1 and 1")
        if self.search_first < 1:
            raise ValueError("search_first must be at least 1 frame")
        if self.motion_lookahead < 0 or self.whole_motion_ratio <= 0:
            raise ValueError("motion_lookahead must be >= 0 and whole_motion_ratio > 0")
        if self.memory_size < 0 or self.hold_frames < 0 or self.edge_follow < 0:
            raise ValueError("memory_size, hold_frames and edge_follow must be >= 0")
        if self.max_growth <= 1 or self.max_step <= 1:
            raise ValueError("max_growth and max_step must exceed 1")
        if not 0 < self.margin < 0.1:
            raise ValueError("margin must be a small positive share of the diagonal")
