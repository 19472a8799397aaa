"""TapMask event contracts: `pip install tapmask-schemas` to consume TapMask's events."""

from tapmask_schemas.events import (
    SCHEMA_VERSION,
    AnyEvent,
    Event,
    JobCreated,
    JobFailed,
    JobProgress,
    MasksReady,
    ReviewRange,
    VideoReady,
    parse_event,
)
from tapmask_schemas.jobs import ClickPoint, Effect, JobStatus, ProcessingMode, Stage, VideoInfo

__all__ = [
    "SCHEMA_VERSION",
    "AnyEvent",
    "ClickPoint",
    "Effect",
    "Event",
    "JobCreated",
    "JobFailed",
    "JobProgress",
    "JobStatus",
    "MasksReady",
    "ProcessingMode",
    "ReviewRange",
    "Stage",
    "VideoInfo",
    "VideoReady",
    "parse_event",
]
