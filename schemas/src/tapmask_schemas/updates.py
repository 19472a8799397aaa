"""What a browser gets on a job's event stream (``GET /api/jobs/{id}/events``, SSE ``data``).

The notifier maps each Kafka event (and, for a job it has not heard of, the gateway's view of
it) to one ``JobUpdate``; the web app reads it (web/src/progress.ts). One model instead of
dicts built in three places keeps the fields a client may rely on in one list, with the JSON
Schema next to the events' (schemas/json/job-update.schema.json).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from tapmask_schemas.jobs import JobStatus, Stage


class JobUpdate(BaseModel):
    """One state of a job as its owner's stream shows it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: UUID
    event_type: Literal["state", "job-progress", "video-ready", "job-failed"] = Field(
        description="The event it came from; 'state' when the notifier asked the gateway."
    )
    status: JobStatus
    stage: Stage
    percent: float = Field(ge=0, le=100, description="Of the whole job.")
    message: str = Field(default="", description="For the user, in plain words.")
    occurred_at: datetime | None = None
    eta_seconds: float | None = Field(default=None, ge=0, description="Sent (null) when unknown.")
    reason: str | None = Field(default=None, description="Why it failed or expired.")
    size_bytes: int | None = Field(default=None, ge=0, description="Of the finished video.")
    duration_seconds: float | None = Field(default=None, ge=0)

    def data(self) -> dict[str, Any]:
        """The SSE ``data`` object: the fields this update set (an unknown ETA is sent as
        null, a field that does not apply is left out)."""
        return self.model_dump(mode="json", exclude_unset=True)
