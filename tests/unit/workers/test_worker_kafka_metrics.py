"""The workers' Kafka message metrics come from FastStream's Prometheus middleware, and a
scrape of the worker's port (/metrics, tapmask_runtime.probes) shows them next to the
worker's own job metrics: messages received and published per topic, and how long each
message took to process (deploy/README.md, "Traces, logs, metrics")."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from test_tracker_worker import FakeTrack, run_jobs, service

from tapmask_runtime.probes import probe_app
from tapmask_schemas.topics import JOB_CREATED, MASKS_READY


async def scrape(svc: Any) -> dict[str, list[tuple[dict[str, str], float]]]:
    """What Prometheus reads from the worker's /metrics: name -> [(labels, value)]."""
    app = probe_app(svc.metrics.registry, svc.broker)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tracker") as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def total(samples: list[tuple[dict[str, str], float]], **labels: str) -> float:
    return sum(v for lab, v in samples if labels.items() <= lab.items())


async def test_a_scrape_shows_kafka_messages_received_published_and_their_processing_time(
    store: Any, make_job: Any
) -> None:
    jobs = [make_job(), make_job()]
    for job in jobs:
        store.objects[job.upload_key] = (b"video-bytes", {})
    svc = service(store, FakeTrack())

    await run_jobs(svc, *jobs)
    metrics = await scrape(svc)

    received = metrics["faststream_received_messages_total"]
    assert total(received, app_name="tracker", handler=JOB_CREATED) == 2
    published = metrics["faststream_published_messages_total"]
    assert total(published, app_name="tracker", destination=MASKS_READY, status="success") == 2
    # Latency, not only counts: a histogram of each message's processing.
    durations = metrics["faststream_received_processed_messages_duration_seconds_count"]
    assert total(durations, app_name="tracker", handler=JOB_CREATED) == 2
    # ... beside the worker's own job metrics, in the one registry the port serves.
    assert total(metrics["tapmask_worker_jobs_total"], outcome="completed") == 2
