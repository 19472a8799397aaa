"""The gateway's Kafka metrics as Prometheus scrapes them, from FastStream's Prometheus
middleware (as in the workers and the notifier): the relay's publishes of job-created and
the projector's events received, with their processing time, on the gateway's /metrics."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pytest
from gateway_harness import TOPIC_PREFIX, Served, create_job, eventually, publish, upload
from scrape import total

from tapmask_schemas import JobProgress, Stage, topics

pytestmark = pytest.mark.integration


async def test_a_scrape_shows_job_created_published_and_worker_events_received(
    gateway: Served, kafka_bootstrap: str, clips: dict[str, Path]
) -> None:
    created_topic = TOPIC_PREFIX + topics.JOB_CREATED
    progress_topic = TOPIC_PREFIX + topics.JOB_PROGRESS
    published = "faststream_published_messages_total"
    received = "faststream_received_messages_total"
    duration = "faststream_received_processed_messages_duration_seconds_count"
    async with gateway.client() as client:

        async def scrape() -> str:
            response = await gateway.scrape()
            assert response.status_code == 200
            return response.text

        before = await scrape()
        created = await create_job(client, await upload(client, clips["small"]))
        assert created.status_code == 201, created.text
        job_id = UUID(created.json()["job_id"])

        # The relay sends the job's job-created: counted as published, and succeeded.
        async def sent() -> bool:
            grew = total(
                await scrape(), published, app_name="gateway", destination=created_topic
            ) - total(before, published, app_name="gateway", destination=created_topic)
            return grew >= 1

        await eventually(sent)
        assert total(await scrape(), published, destination=created_topic, status="error") == 0

        # A worker's progress event reaches the projector: counted as received, and timed.
        await publish(
            kafka_bootstrap,
            topics.JOB_PROGRESS,
            JobProgress(job_id=job_id, stage=Stage.TRACKING, percent=30),
        )

        def grew(text: str, name: str) -> float:
            labels = {"app_name": "gateway", "handler": progress_topic}
            return total(text, name, **labels) - total(before, name, **labels)

        # Counted when it arrives, timed once handled: wait for both.
        async def projected() -> bool:
            text = await scrape()
            return grew(text, received) >= 1 and grew(text, duration) >= 1

        await eventually(projected)
