"""Job vocabulary shared by the HTTP API, the events and the database."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _number_only(value: object) -> object:
    if isinstance(value, str | bool):
        raise ValueError("must be a JSON number, not a string or true/false")
    return value


def _boolean_only(value: object) -> object:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


# "150" or true is not a pixel, "yes" not a yes: pydantic's lax mode would take all three,
# and Litestar validates request bodies in lax mode whatever a field's ``strict`` says.
Number = Annotated[float, BeforeValidator(_number_only)]
Integer = Annotated[int, BeforeValidator(_number_only)]
Boolean = Annotated[bool, BeforeValidator(_boolean_only)]


class ProcessingMode(StrEnum):
    PRIVACY = "privacy"  # hide the object: blur, pixelate or fill
    MAGIC_ERASER = "magic_eraser"  # remove the object, fill in the background


class Effect(StrEnum):
    BLUR = "blur"
    PIXELATE = "pixelate"
    FILL = "fill"


class JobStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    """Stopped by its owner (POST /api/jobs/{id}/cancel); the workers stop too."""

    @property
    def is_final(self) -> bool:
        return self in (
            JobStatus.COMPLETED,
            JobStatus.FAILED,
            JobStatus.EXPIRED,
            JobStatus.CANCELLED,
        )


class Stage(StrEnum):
    """Where a job is, in words a person understands."""

    QUEUED = "queued"
    DOWNLOADING = "downloading"
    TRACKING = "tracking"
    RENDERING = "rendering"
    UPLOADING = "uploading"
    DONE = "done"


class ClickPoint(BaseModel):
    """A click on the object, in pixels of the frame as players show it (rotation applied;
    x right, y down)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    x: Number = Field(ge=0, description="Pixels from the left edge of the frame.")
    y: Number = Field(ge=0, description="Pixels from the top edge of the frame.")
    frame: Integer = Field(default=0, ge=0, description="Frame index the click was made on.")
    positive: Boolean = Field(
        default=True, description="False marks a spot that is NOT the object."
    )
    object_id: Integer = Field(
        default=0, ge=0, description="Clicks with the same id belong to one object."
    )


class VideoInfo(BaseModel):
    """What the gateway's probe found in the upload."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    width: int = Field(gt=0)
    height: int = Field(gt=0)
    frame_count: int = Field(ge=0)
    duration_seconds: float = Field(ge=0)
    fps: float = Field(ge=0, description="Average frame rate; timing is kept per frame.")
    has_audio: bool
    # Optional (added later; old events lack them): how players show the video.
    rotation: int = Field(
        default=0, description="Counter-clockwise display rotation in degrees (0, 90, 180, 270)."
    )
    display_width: int | None = Field(
        default=None,
        gt=0,
        description="Width as displayed (after rotation); clicks are in displayed pixels. "
        "Absent: same as width.",
    )
    display_height: int | None = Field(
        default=None, gt=0, description="Height as displayed (after rotation). Absent: height."
    )
