"""The event contracts as a consumer of them sees them."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import uuid4

import pytest
from pydantic import ValidationError

from tapmask_schemas import (
    ClickPoint,
    JobCreated,
    JobFailed,
    JobProgress,
    ProcessingMode,
    Stage,
    VideoInfo,
    parse_event,
)
from tapmask_schemas.export import drifted, main, render_all
from tapmask_schemas.topics import key_for

VIDEO = VideoInfo(
    width=1280, height=720, frame_count=300, duration_seconds=10.0, fps=30.0, has_audio=True
)


def _created() -> JobCreated:
    return JobCreated(
        job_id=uuid4(),
        upload_key="uploads/abc.mp4",
        mode=ProcessingMode.PRIVACY,
        points=[ClickPoint(x=10, y=20)],
        video=VIDEO,
    )


def test_every_event_has_the_common_envelope() -> None:
    event = _created()
    data = json.loads(event.model_dump_json())
    assert data["schema_version"] == 1
    assert data["event_type"] == "job-created"
    assert data["job_id"] == str(event.job_id)
    assert data["occurred_at"].endswith("Z") or "+00:00" in data["occurred_at"]
    assert _created().event_id != event.event_id


def test_round_trip_through_json_by_event_type() -> None:
    event = _created()
    assert parse_event(event.model_dump_json()) == event
    failed = JobFailed(job_id=event.job_id, stage=Stage.TRACKING, reason="no video stream")
    assert parse_event(failed.model_dump_json()) == failed


def test_consumers_ignore_fields_added_later() -> None:
    data = json.loads(_created().model_dump_json())
    data["added_in_a_later_minor_version"] = 1
    assert isinstance(parse_event(json.dumps(data)), JobCreated)


@pytest.mark.parametrize("percent", [-1, 100.5])
def test_progress_percent_is_bounded(percent: float) -> None:
    with pytest.raises(ValidationError):
        JobProgress(job_id=uuid4(), stage=Stage.TRACKING, percent=percent)


def test_a_job_needs_a_click_and_an_aware_timestamp() -> None:
    data = json.loads(_created().model_dump_json())
    with pytest.raises(ValidationError):
        parse_event(json.dumps({**data, "points": []}))
    with pytest.raises(ValidationError):
        parse_event(json.dumps({**data, "occurred_at": "2026-01-01T00:00:00"}))


def test_key_is_the_job_id() -> None:
    job_id = uuid4()
    assert key_for(job_id) == str(job_id).encode()


def test_committed_json_schemas_match_the_models(tmp_path: Path) -> None:
    committed = Path(__file__).resolve().parents[3] / "schemas" / "json"
    assert drifted(committed) == []
    # ...and the check notices drift.
    assert main(["--dir", str(tmp_path)]) == 0
    name = next(iter(render_all()))
    (tmp_path / name).write_text("{}\n")
    assert drifted(tmp_path) == [name]
    assert main(["--check", "--dir", str(tmp_path)]) == 1
