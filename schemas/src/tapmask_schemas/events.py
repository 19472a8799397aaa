"""The events that flow between TapMask services and to outside consumers.

Every event carries `schema_version`, `event_type`, `event_id` (unique: a
consumer drops an event id it has seen, since delivery is at-least-once),
`job_id` and `occurred_at`. Events are published to the topic named in
`tapmask_schemas.topics`, keyed by `key_for(job_id)`. Consumers ignore fields
they don't know, so adding an optional field is not a breaking change; a
breaking change bumps `SCHEMA_VERSION`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Final, Literal
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from tapmask_schemas.jobs import ClickPoint, Effect, JobStatus, ProcessingMode, Stage, VideoInfo

SCHEMA_VERSION: Final = 1


def _now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: UUID = Field(default_factory=uuid4, description="Unique; drop duplicates by it.")
    job_id: UUID
    occurred_at: AwareDatetime = Field(default_factory=_now)


class JobCreated(Event):
    """A job was accepted by the gateway: its upload is probed and ready to track."""

    event_type: Literal["job-created"] = "job-created"
    upload_key: str = Field(min_length=1, description="S3 key of the uploaded video.")
    mode: ProcessingMode
    effect: Effect = Effect.BLUR
    points: list[ClickPoint] = Field(
        default_factory=list,
        description="The clicks on the object(s). Empty only with auto_faces (every face, "
        "nothing clicked).",
    )
    video: VideoInfo
    attempt: int = Field(default=1, ge=1, description="Delivery attempt of this job's stage.")
    auto_faces: bool = Field(
        default=False,
        description="Also find and hide every face, with no click (stored in the same masks "
        "as the clicked objects). Absent in events of older gateways: false.",
    )

    @model_validator(mode="after")
    def _something_to_hide(self) -> JobCreated:
        if not self.points and not self.auto_faces:
            raise ValueError("points: at least one click is needed unless auto_faces is true")
        return self


class ReviewRange(BaseModel):
    """Frames ``start_frame``..``end_frame`` (inclusive, 0-based) where the tracker was
    unsure and a person should look at the result."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    start_frame: int = Field(ge=0, description="First frame to check (0-based).")
    end_frame: int = Field(ge=0, description="Last frame to check (inclusive).")
    reason: str = Field(
        description="Why, in plain words (e.g. 'object lost; mask held and widened')."
    )

    @model_validator(mode="after")
    def _ordered(self) -> ReviewRange:
        if self.end_frame < self.start_frame:
            raise ValueError(f"end_frame {self.end_frame} is before start_frame {self.start_frame}")
        return self


class MasksReady(Event):
    """The tracker stored one mask per frame of the video."""

    event_type: Literal["masks-ready"] = "masks-ready"
    upload_key: str = Field(min_length=1)
    masks_key: str = Field(min_length=1, description="S3 key of the mask stream.")
    mode: ProcessingMode
    effect: Effect = Effect.BLUR
    video: VideoInfo
    frames_with_object: int = Field(ge=0, description="Frames where the object was seen.")
    tracker_backend: str = Field(description="The tracker that made the masks (cpu, sam2, ...).")
    review: list[ReviewRange] = Field(
        default=[],
        description="Frame ranges a person should check (the tracker was unsure there); "
        "empty when it never was. Absent in events of older trackers.",
    )
    attempt: int = Field(default=1, ge=1)


class VideoReady(Event):
    """The result video is stored and can be downloaded."""

    event_type: Literal["video-ready"] = "video-ready"
    output_key: str = Field(min_length=1, description="S3 key of the result video.")
    size_bytes: int = Field(ge=0)
    duration_seconds: float = Field(ge=0)


class JobProgress(Event):
    """How far a job is: published by each stage at least every second or few percent."""

    event_type: Literal["job-progress"] = "job-progress"
    status: JobStatus = JobStatus.PROCESSING
    stage: Stage
    percent: float = Field(ge=0, le=100, description="Of the whole job, not only the stage.")
    message: str = ""
    eta_seconds: float | None = Field(default=None, ge=0, description="When known.")


class JobFailed(Event):
    """A job stopped for good (or a stage gave up on an attempt, when retryable)."""

    event_type: Literal["job-failed"] = "job-failed"
    stage: Stage
    reason: str = Field(min_length=1, description="For the user: what went wrong.")
    retryable: bool = False


AnyEvent = Annotated[
    JobCreated | MasksReady | VideoReady | JobProgress | JobFailed,
    Field(discriminator="event_type"),
]
ANY_EVENT: Final[TypeAdapter[AnyEvent]] = TypeAdapter(AnyEvent)

EVENT_MODELS: Final[dict[str, type[Event]]] = {
    "job-created": JobCreated,
    "masks-ready": MasksReady,
    "video-ready": VideoReady,
    "job-progress": JobProgress,
    "job-failed": JobFailed,
}


def parse_event(data: bytes | str) -> AnyEvent:
    """Parse any TapMask event from its JSON, by its `event_type`."""
    return ANY_EVENT.validate_json(data)
