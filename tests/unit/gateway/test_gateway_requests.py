"""Request checks: what may be uploaded, and what a job request may contain."""

from __future__ import annotations

from uuid import uuid4

import pytest
from pydantic import ValidationError

from tapmask_gateway.controllers.jobs import CreateJobRequest
from tapmask_gateway.controllers.uploads import PresignRequest
from tapmask_gateway.domain.uploads import UploadRejected, check_upload, click_problem, upload_key

MB = 1024**2


def test_allowed_videos_pass() -> None:
    assert check_upload("Holiday.MP4", "video/mp4", 5 * MB, 500 * MB) == (".mp4", "video/mp4")
    assert check_upload("a.webm", "video/webm; codecs=vp9", 1, 500 * MB) == (".webm", "video/webm")


@pytest.mark.parametrize(
    ("filename", "ctype", "size", "message", "kind"),
    [
        ("notes.txt", "text/plain", 10, "file type '.txt' is not supported", "type"),
        ("clip", "video/mp4", 10, "file type '(none)'", "type"),
        ("clip.mp4", "text/html", 10, "content type 'text/html' does not match .mp4", "type"),
        ("clip.mp4", "video/mp4", 501 * MB, "the limit is 524288000 bytes", "too_large"),
        ("clip.mp4", "video/mp4", 0, "size must be a positive", "invalid"),
        # Too large and of the wrong type: the type is named (and answered 415) first.
        ("notes.txt", "text/plain", 501 * MB, "file type '.txt'", "type"),
    ],
)
def test_bad_uploads_are_refused_naming_the_problem(
    filename: str, ctype: str, size: int, message: str, kind: str
) -> None:
    with pytest.raises(
        UploadRejected, match=message.replace("(", r"\(").replace(")", r"\)")
    ) as refused:
        check_upload(filename, ctype, size, 500 * MB)
    assert refused.value.kind == kind


def test_keys_are_chosen_by_the_server() -> None:
    upload_id = uuid4()
    assert upload_key(upload_id, ".mp4") == f"uploads/{upload_id}.mp4"


def test_clicks_must_be_inside_the_video() -> None:
    assert click_problem(10, 10, 0, 64, 48, 20) is None
    assert "outside the 64x48 frame" in (click_problem(64, 10, 0, 64, 48, 20) or "")
    assert "outside" in (click_problem(10, 48, 0, 64, 48, 20) or "")
    assert "past the end of the video (20 frames)" in (click_problem(1, 1, 20, 64, 48, 20) or "")


def test_a_job_request_cannot_set_other_fields() -> None:
    body = {"upload_key": "uploads/x.mp4", "click_x": 1, "click_y": 2, "processing_mode": "privacy"}
    assert CreateJobRequest.model_validate(body).effect is None
    for extra in ({"status": "completed"}, {"output_key": "outputs/other.mp4"}):
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            CreateJobRequest.model_validate(body | extra)
    with pytest.raises(ValidationError, match="processing_mode"):
        CreateJobRequest.model_validate(body | {"processing_mode": "sharpen"})
    with pytest.raises(ValidationError, match="effect"):
        CreateJobRequest.model_validate(body | {"effect": "glitter"})
    with pytest.raises(ValidationError, match="click_x"):
        CreateJobRequest.model_validate(body | {"click_x": -1})


def test_a_presign_request_cannot_choose_the_key() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        PresignRequest.model_validate(
            {"filename": "a.mp4", "content_type": "video/mp4", "size": 1, "key": "outputs/x.mp4"}
        )
