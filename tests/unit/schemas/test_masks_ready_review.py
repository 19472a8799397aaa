"""masks-ready carries the tracker's backend and the frames a person should check."""

from __future__ import annotations

import json
from uuid import uuid4

import pytest
from pydantic import ValidationError

from tapmask_schemas import MasksReady, ProcessingMode, ReviewRange, VideoInfo, parse_event
from tapmask_schemas.export import render_all

VIDEO = VideoInfo(
    width=64, height=48, frame_count=289, duration_seconds=9.6, fps=30, has_audio=False
)


def _ready(**kw: object) -> MasksReady:
    base: dict[str, object] = {
        "job_id": uuid4(),
        "upload_key": "uploads/a.mp4",
        "masks_key": "masks/a.masks",
        "mode": ProcessingMode.PRIVACY,
        "video": VIDEO,
        "frames_with_object": 280,
        "tracker_backend": "learned",
    }
    return MasksReady(**{**base, **kw})  # type: ignore[arg-type]


def test_review_ranges_round_trip_through_json() -> None:
    event = _ready(
        review=[
            ReviewRange(start_frame=75, end_frame=90, reason="object lost; mask held and widened"),
            ReviewRange(start_frame=200, end_frame=200, reason="low confidence"),
        ]
    )
    data = json.loads(event.model_dump_json())
    assert data["tracker_backend"] == "learned"
    assert data["review"] == [
        {"start_frame": 75, "end_frame": 90, "reason": "object lost; mask held and widened"},
        {"start_frame": 200, "end_frame": 200, "reason": "low confidence"},
    ]
    again = parse_event(event.model_dump_json())
    assert again == event
    assert isinstance(again, MasksReady) and again.review[0].end_frame == 90


def test_a_masks_ready_of_an_older_tracker_has_no_review() -> None:
    data = json.loads(_ready().model_dump_json())
    del data["review"]
    old = parse_event(json.dumps(data))
    assert isinstance(old, MasksReady)
    assert old.review == []


def test_a_range_that_ends_before_it_starts_is_rejected() -> None:
    with pytest.raises(ValidationError, match="before start_frame"):
        ReviewRange(start_frame=10, end_frame=9, reason="x")
    with pytest.raises(ValidationError):
        ReviewRange(start_frame=-1, end_frame=3, reason="x")


def test_the_json_schema_documents_review_as_optional() -> None:
    schema = json.loads(render_all()["masks-ready.schema.json"])
    assert "review" in schema["properties"]
    assert "review" not in schema["required"]
    assert "tracker_backend" in schema["required"]
    rng = schema["$defs"]["ReviewRange"]
    assert set(rng["required"]) == {"start_frame", "end_frame", "reason"}
