"""What is drawn for a frame: every clicked object's mask, grown by the privacy margin.

An unsure object is widened ``unsure_widen`` margins, a held one ``held_widen``; where
NanoTrack follows an object confidently, the last keyframe's shape riding on its box
(``geometry.follow_box``) is added within a thin band around the carried mask
(``rigid_reach``): flow melts textureless and blurred parts. Decoys are never drawn.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from tapmask_processing.tracking.learned.geometry import follow_box
from tapmask_processing.tracking.learned.settings import LearnedSettings
from tapmask_processing.tracking.learned.state import TrackedObject
from tapmask_processing.tracking.morphology import dilate
from tapmask_processing.tracking.tracking import Mask


def output_mask(
    settings: LearnedSettings, objects: Iterable[TrackedObject], shape: tuple[int, int],
    index: int,
) -> Mask:
    h, w = shape
    margin = max(1, round(settings.margin * float(np.hypot(w, h))))
    union = np.zeros((h, w), bool)
    for obj in objects:
        if obj.decoy:
            continue
        if obj.lost:
            if obj.held is not None and index - obj.since < settings.hold_frames:
                union |= dilate(obj.held, margin * settings.held_widen)
            continue
        widen = obj.unsure or (settings.widen_doubt and obj.doubtful)
        grow = margin * settings.unsure_widen if widen else margin
        union |= dilate(obj.mask, grow)
        if obj.nano_box is not None and obj.key_mask is not None and obj.key_box is not None:
            rigid = follow_box(obj.key_mask, obj.key_box, obj.nano_box)
            reach = max(2, round(settings.rigid_reach * float(np.sqrt(obj.key_area))))
            union |= dilate(rigid & dilate(obj.mask, reach), grow)
    return union
