"""The notifier's Kafka event metrics come from FastStream's Prometheus middleware, as the
workers' do: a scrape of /metrics shows the events received per topic and how long each
took to fan out (deploy/README.md, "Traces, logs, metrics")."""

from __future__ import annotations

from uuid import uuid4

from scrape import total
from test_sse_app import running_notifier

from tapmask_schemas import JobProgress, Stage, VideoReady
from tapmask_schemas.topics import JOB_PROGRESS, VIDEO_READY


async def test_a_scrape_shows_events_received_by_topic_and_their_processing_time() -> None:
    job = uuid4()
    async with running_notifier() as (br, client):
        for percent in (10, 20, 30):
            await br.publish(
                JobProgress(job_id=job, stage=Stage.TRACKING, percent=percent), JOB_PROGRESS
            )
        done = VideoReady(
            job_id=job, output_key=f"outputs/{job}.mp4", size_bytes=1, duration_seconds=1
        )
        await br.publish(done, VIDEO_READY)
        response = await client.get("/metrics")

    assert response.status_code == 200
    text = response.text
    received = "faststream_received_messages_total"
    assert total(text, received, app_name="notifier", handler=JOB_PROGRESS) == 3
    assert total(text, received, app_name="notifier", handler=VIDEO_READY) == 1
    # Latency, not only counts: a histogram of each event's handling.
    duration = "faststream_received_processed_messages_duration_seconds_count"
    assert total(text, duration, app_name="notifier", handler=JOB_PROGRESS) == 3
    # ... beside the notifier's own counts, in the same scrape.
    assert total(text, "tapmask_notifier_events_total", outcome="sent") == 4
