"""Service logs as a log shipper reads them: one JSON object per line, with the job id."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest

from tapmask_runtime.logging import configure_logging, job_context
from tapmask_runtime.settings import LogSettings


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    out = io.StringIO()
    configure_logging("tracker", stream=out)
    yield out
    root.handlers[:], root.level = saved


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_records_inside_a_job_carry_its_id(stream: io.StringIO) -> None:
    job_id = uuid4()
    log = logging.getLogger("tapmask_tracker.handlers")
    with job_context(job_id):
        log.info("tracking %d frames", 70, extra={"backend": "cpu"})
    log.warning("idle")

    inside, outside = _lines(stream)
    assert inside["message"] == "tracking 70 frames"
    assert inside["job_id"] == str(job_id)
    assert inside["backend"] == "cpu"
    assert inside["service"] == "tracker"
    assert inside["level"] == "INFO"
    assert outside["job_id"] is None


def test_exceptions_are_kept_in_one_line(stream: io.StringIO) -> None:
    try:
        raise RuntimeError("decoder gave up")
    except RuntimeError:
        logging.getLogger("x").exception("render failed", extra={"job_id": "j-1"})
    (entry,) = _lines(stream)
    assert entry["job_id"] == "j-1"
    assert "RuntimeError: decoder gave up" in entry["exc"]


def test_level_filters_debug(stream: io.StringIO) -> None:
    configure_logging("renderer", LogSettings(level="WARNING"), stream=stream)
    logging.getLogger("x").info("not shown")
    logging.getLogger("x").error("shown")
    assert [e["message"] for e in _lines(stream)] == ["shown"]
