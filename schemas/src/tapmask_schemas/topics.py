"""Kafka topic names and the message key.

Every event is keyed by its job id, so all events of one job land on one
partition and stay in order for every consumer.
"""

from __future__ import annotations

from typing import Final
from uuid import UUID

JOB_CREATED: Final = "tapmask.job-created"
MASKS_READY: Final = "tapmask.masks-ready"
VIDEO_READY: Final = "tapmask.video-ready"
JOB_PROGRESS: Final = "tapmask.job-progress"
JOB_FAILED: Final = "tapmask.job-failed"
# Messages a worker gave up on after its retries, with the reason in headers.
DEAD_LETTER: Final = "tapmask.dead-letter"

ALL_TOPICS: Final = (JOB_CREATED, MASKS_READY, VIDEO_READY, JOB_PROGRESS, JOB_FAILED, DEAD_LETTER)


def key_for(job_id: UUID | str) -> bytes:
    """The Kafka message key of every event of a job: its id as text."""
    return str(job_id).encode()
