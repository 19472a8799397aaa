"""Fixtures for worker unit tests: fake object store, Kafka observer, sample events."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import pytest
from fake_store import FakeStore
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from tapmask_runtime.worker import retry_topic
from tapmask_schemas import ClickPoint, Effect, JobCreated, ProcessingMode, VideoInfo
from tapmask_schemas.topics import ALL_TOPICS, JOB_CREATED, MASKS_READY


@dataclass
class Seen:
    body: bytes
    headers: dict[str, Any]

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def observe(broker: KafkaBroker) -> dict[str, list[Seen]]:
    """Subscribe an observer (own group) to every TapMask topic; returns what arrives."""
    seen: dict[str, list[Seen]] = defaultdict(list)

    def make(topic: str) -> None:
        @broker.subscriber(topic, group_id=f"observer-{topic}")
        async def record(msg: KafkaMessage) -> None:
            seen[topic].append(Seen(bytes(msg.body), dict(msg.headers)))

    for topic in ALL_TOPICS:
        make(topic)
    # The workers' own retry topics (not public: outside consumers never see them).
    make(retry_topic(JOB_CREATED, "tracker"))
    make(retry_topic(MASKS_READY, "renderer"))
    return seen


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def observe_topics() -> Any:
    return observe


def job_created(**kw: Any) -> JobCreated:
    base: dict[str, Any] = {
        "job_id": uuid4(),
        "upload_key": f"uploads/{uuid4()}.mp4",
        "mode": ProcessingMode.PRIVACY,
        "effect": Effect.PIXELATE,
        "points": [ClickPoint(x=10, y=12)],
        "video": VideoInfo(
            width=64, height=48, frame_count=10, duration_seconds=0.4, fps=25, has_audio=False
        ),
    }
    return JobCreated(**{**base, **kw})


@pytest.fixture
def make_job() -> Any:
    return job_created


def events(seen: list[Seen], event_type: str | None = None) -> list[dict[str, Any]]:
    out = [s.json for s in seen]
    return [e for e in out if event_type is None or e.get("event_type") == event_type]


@pytest.fixture
def decode() -> Any:
    return events
