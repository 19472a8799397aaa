"""The SSE update a browser reads (tapmask_schemas.updates.JobUpdate), as the notifier makes it."""

from __future__ import annotations

import json
from uuid import uuid4

import pytest
from pydantic import ValidationError

from tapmask_notifier.handlers import sse_data
from tapmask_schemas import JobProgress, Stage, VideoReady
from tapmask_schemas.export import render_all
from tapmask_schemas.updates import JobUpdate


def test_progress_sends_an_unknown_eta_as_null_and_no_result_fields() -> None:
    event = JobProgress(job_id=uuid4(), stage=Stage.TRACKING, percent=12.5)
    mapped = sse_data(event, 0.0)
    assert mapped is not None
    data = json.loads(json.dumps(mapped[0].data()))
    # The web app tells "no ETA yet" (null) from "not a progress update" (absent).
    assert "eta_seconds" in data and data["eta_seconds"] is None
    assert "size_bytes" not in data and "reason" not in data
    assert (data["status"], data["stage"], data["percent"]) == ("processing", "tracking", 12.5)
    assert data["job_id"] == str(event.job_id)


def test_a_finished_video_says_its_size_and_is_final() -> None:
    event = VideoReady(
        job_id=uuid4(), output_key="outputs/x.mp4", size_bytes=1234, duration_seconds=2.5
    )
    mapped = sse_data(event, 97.0)
    assert mapped is not None
    update, final = mapped
    assert final
    assert update.data()["size_bytes"] == 1234
    assert update.data()["status"] == "completed"


def test_a_percent_past_100_is_refused_and_the_schema_is_published() -> None:
    with pytest.raises(ValidationError):
        JobUpdate(
            job_id=uuid4(), event_type="state", status="processing", stage="tracking", percent=101
        )
    schema = json.loads(render_all()["job-update.schema.json"])
    assert {"job_id", "status", "stage", "percent"} <= set(schema["required"])
