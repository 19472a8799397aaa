"""One tracked object and its state machine: tracking, unsure, lost, found again.

Every change of state happens in one of four methods (``take``, ``doubt``, ``lose``,
``settle``), so what an object is doing is one named ``Phase`` rather than a
combination of optional fields:

- ``TRACKING``: its mask is trusted (the last keyframe confirmed it);
- ``UNSURE``: SAM could not confirm it; the carried mask is kept, widened, and its
  frames go on the review list, for at most ``hold_frames``;
- ``LOST``: not seen; inside the frame its last mask stays, widened, for ``hold_frames``
  (listed for review); gone through a frame edge, nothing is held;
- ``FOUND``: found again by a search after being lost; keyframes grow it back to the
  whole object for ``regrow_frames``, then it is ``TRACKING`` again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from tapmask_processing.tracking.learned.geometry import touches_edge
from tapmask_processing.tracking.learned.memory import AppearanceMemory
from tapmask_processing.tracking.sam_prompting import Box, bbox
from tapmask_processing.tracking.tracking import Mask


class Phase(Enum):
    TRACKING = "tracking"
    UNSURE = "unsure"
    LOST = "lost"
    FOUND = "found again"


REVIEW_HOLD = "object not seen; its last mask was held and widened"
REVIEW_UNSURE = "tracking unsure; the mask was widened"
REVIEW_LEFT = "object left the frame and was not found since"
REVIEW_DOUBT = "the mask may have slipped off the object between keyframes; it was widened"


@dataclass
class TrackedObject:
    object_id: int
    mask: Mask  # working size
    memory: AppearanceMemory
    ref_area: float  # area when clicked (working pixels)
    key_area: float
    last_key: int
    phase: Phase = Phase.TRACKING
    #: The frame the object entered its phase.
    since: int = 0
    box_tracker: Any = None
    #: Shown, widened, while the object is lost inside the frame (``None``: it left).
    held: Mask | None = None
    #: The last non-empty mask.
    last_seen: Mask | None = None
    nano_box: Box | None = None
    #: A look-alike beside a clicked object, tracked only so that SAM is told it is not
    #: that object (never drawn, never reported).
    decoy_of: int | None = None
    #: Frame where it was last found again after being lost (growth goes on while unsure).
    found_at: int | None = None
    #: SAM's mask at the last keyframe and its box, which the output moves with
    #: NanoTrack's box (``geometry.follow_box``).
    key_mask: Mask | None = None
    key_box: Box | None = None
    #: Searches that failed since it was lost (the next waits twice as long).
    searches: int = 0
    #: Between keyframes, the cheap signals doubt the carried mask on this frame.
    doubtful: bool = False

    @property
    def decoy(self) -> bool:
        return self.decoy_of is not None

    @property
    def lost(self) -> bool:
        return self.phase is Phase.LOST

    @property
    def unsure(self) -> bool:
        return self.phase is Phase.UNSURE

    def regrowing(self, index: int, frames: int) -> bool:
        """Found again within the last ``frames`` frames (maybe by a part of it)."""
        return self.found_at is not None and index - self.found_at <= frames

    # -- transitions -------------------------------------------------------------------

    def take(self, mask: Mask, index: int, box_tracker: Any, *, found: bool = False) -> None:
        """A keyframe (or a click) confirmed ``mask`` as the object."""
        self.mask = mask
        self.key_area = float(mask.sum())
        self.last_key = index
        self.held = None
        if found:
            self.found_at = index
            self._enter(Phase.FOUND, index)
        elif self.phase is not Phase.FOUND:
            self._enter(Phase.TRACKING, index)
        self.box_tracker = box_tracker
        self.key_mask, self.key_box = mask, bbox(mask)

    def doubt(self, index: int, look_again_in: int) -> None:
        """SAM could not confirm it: keep the carried mask and look again sooner."""
        if self.phase is not Phase.UNSURE:
            self._enter(Phase.UNSURE, index)
        self.last_key = index - look_again_in

    def lose(self, index: int) -> None:
        """Not seen: hold its last place inside the frame, nothing past an edge."""
        if self.phase is not Phase.LOST:
            seen = self.mask if self.mask.any() else self.last_seen
            self.held = None if seen is None or touches_edge(seen) else seen
            self._enter(Phase.LOST, index)
            self.searches = 0
        else:
            self.searches += 1
        self.last_key = index
        self.box_tracker = None
        self.mask = np.zeros(self.mask.shape, bool)

    def settle(self, index: int, regrow_frames: int) -> None:
        """Found again long enough ago: plain tracking."""
        if self.phase is Phase.FOUND and not self.regrowing(index, regrow_frames):
            self._enter(Phase.TRACKING, index)

    def _enter(self, phase: Phase, index: int) -> None:
        self.phase, self.since = phase, index

    # -- what a person is told -----------------------------------------------------------

    @property
    def left(self) -> bool:
        """Lost through the frame's edge (nothing held)."""
        return self.phase is Phase.LOST and self.held is None and (
            self.last_seen is not None and touches_edge(self.last_seen)
        )

    def review_reason(self, *, left: bool = True, doubt: bool = True) -> str | None:
        """Why this frame should be checked, or ``None``. ``left``: also while it is out
        of the frame; ``doubt``: also where the carried mask is doubtful."""
        if self.decoy:
            return None
        if self.phase is Phase.LOST:
            if self.left:
                return REVIEW_LEFT if left else None
            return REVIEW_HOLD
        if self.phase is Phase.UNSURE:
            return REVIEW_UNSURE
        return REVIEW_DOUBT if doubt and self.doubtful else None
