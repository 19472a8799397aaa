"""Watching a job while it tracks: the outline previews the tracker stores as it goes, and
the hold a person puts on the tracker to correct it (pause, correct, resume, accept).

Both live in object storage next to the job's masks, one small object each (keys in
``tapmask_schemas.keys``), so neither needs a new topic nor a database column:

- ``TrackPreviews`` (``previews_key``): written by the tracker about once a second while it
  tracks; a low-resolution outline of every ``step``-th frame tracked so far. The gateway
  serves it as ``GET /api/jobs/{id}/previews``.
- ``TrackHold`` (``hold_key``): written by the gateway (``POST /api/jobs/{id}/pause`` and
  ``/resume``); the tracker reads it with its progress ticks, as it reads a cancel marker.

Why bounded as it is: at most ``MAX_PREVIEWS`` frames (the step grows with the video; one more
for the last frame), each an 8-bit PNG no wider or taller than ``PREVIEW_MAX_SIDE`` px. An
outline compresses well: measured at 176 bytes (no object), 279 (a 40 px ball) and 423 (a
dog-sized shape) on a 1280x720 frame, so a whole video's previews are some 20-70 KB of JSON
(base64); the object cannot outgrow 121 PNGs of 128 x 128 px in any case.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from tapmask_schemas.events import ReviewRange
from tapmask_schemas.jobs import ClickPoint

#: The most frames a job's previews hold (the step between them grows with the video).
MAX_PREVIEWS: Final = 120
#: The longer side of a preview outline, in pixels.
PREVIEW_MAX_SIDE: Final = 128


def preview_step(frame_count: int) -> int:
    """Every how many frames an outline preview is kept: every 5th frame, or sparser so a
    video never has more than ``MAX_PREVIEWS``."""
    return max(5, -(-frame_count // MAX_PREVIEWS))


class FramePreview(BaseModel):
    """The tracked outline of one frame, at low resolution."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    frame: int = Field(ge=0, description="Frame index (0-based).")
    png: str = Field(
        description="The mask as a base64 grey PNG (255 = the object), PREVIEW_MAX_SIDE px "
        "on its longer side at most, in displayed orientation; scale it to the frame."
    )
    area: float = Field(ge=0, le=1, description="Share of the frame the mask covers.")


class TrackPreviews(BaseModel):
    """Outline previews of the frames a job's tracker has passed so far."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    revision: int = Field(
        default=0, ge=0, description="Bumped when a correction made the tracker start again."
    )
    frames_done: int = Field(ge=0, description="Frames tracked so far.")
    frame_count: int = Field(ge=0, description="Frames in the video.")
    step: int = Field(ge=1, description="A preview every `step` frames (and the last one).")
    done: bool = Field(default=False, description="Tracking reached the last frame.")
    paused_at: int | None = Field(
        default=None, description="The frame the tracker holds at (paused), else null."
    )
    unsure: list[int] = Field(
        default=[],
        description="Preview frames where the outline vanished or changed size abruptly: "
        "where a person should look first.",
    )
    review: list[ReviewRange] = Field(
        default=[],
        description="Once tracking is done: the frames the tracker itself was unsure of, as "
        "the job will list them (the outline held and widened there).",
    )
    previews: list[FramePreview] = Field(default=[])


class TrackHold(BaseModel):
    """What the job's owner asked of the tracker: stop (``paused``), wait before rendering
    (``at_end``), and the corrected clicks to track again with (``points``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    paused: bool = Field(default=False, description="Stop at the next frame until resumed.")
    at_end: bool = Field(
        default=False,
        description="Wait once the outline is done, until the owner accepts it (resume).",
    )
    points: list[ClickPoint] | None = Field(
        default=None, description="Corrected clicks: the tracker starts again with these."
    )
    revision: int = Field(default=0, ge=0, description="Bumped by every change of points.")
