"""Worker events on Kafka move the job forward in PostgreSQL, once, never backwards."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from gateway_harness import (
    TOPIC_PREFIX,
    Served,
    create_job,
    eventually,
    new_schema,
    next_job_created,
    publish,
    running_gateway,
    upload,
)
from job_events import masks_ready

from tapmask_gateway.background.cleanup import cleanup_once
from tapmask_gateway.settings import Settings
from tapmask_runtime.settings import DatabaseSettings
from tapmask_schemas import (
    JobProgress,
    Stage,
    VideoReady,
    topics,
)

pytestmark = pytest.mark.integration


async def test_events_complete_the_job_and_stale_or_repeated_ones_are_ignored(
    gateway: Served, kafka_bootstrap: str, clips: dict[str, Path]
) -> None:
    async with gateway.client() as client:
        created = (await create_job(client, await upload(client, clips["small"]))).json()
        job_id = UUID(created["job_id"])
        auth = {"Authorization": f"Bearer {created['access_token']}"}

        async def job() -> dict[str, Any]:
            got = await client.get(f"/api/jobs/{job_id}", headers=auth)
            assert got.status_code == 200
            return dict(got.json())

        async def until(pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
            async def check() -> dict[str, Any] | None:
                state = await job()
                return state if pred(state) else None

            return dict(await eventually(check))

        first = JobProgress(job_id=job_id, stage=Stage.TRACKING, percent=30)
        await publish(kafka_bootstrap, topics.JOB_PROGRESS, first)
        state = await until(lambda s: s["percent"] == 30)
        assert (state["status"], state["stage"]) == ("processing", "tracking")

        # The same event id again, with other content: a duplicate, dropped. The next
        # event on the same partition proves the duplicate was read before it.
        duplicate = first.model_copy(update={"stage": Stage.RENDERING, "percent": 70})
        await publish(kafka_bootstrap, topics.JOB_PROGRESS, duplicate)
        await publish(
            kafka_bootstrap,
            topics.JOB_PROGRESS,
            JobProgress(job_id=job_id, stage=Stage.RENDERING, percent=60),
        )
        state = await until(lambda s: s["percent"] != 30)
        assert (state["stage"], state["percent"]) == ("rendering", 60)

        await publish(kafka_bootstrap, topics.MASKS_READY, masks_ready(job_id))
        output = f"outputs/{job_id}.mp4"
        gateway.s3.client.put_object(
            Bucket=gateway.s3.bucket, Key=output, Body=clips["small"].read_bytes()
        )
        await publish(
            kafka_bootstrap,
            topics.VIDEO_READY,
            VideoReady(job_id=job_id, output_key=output, size_bytes=1, duration_seconds=2.0),
        )
        done = await until(lambda s: s["status"] == "completed")
        assert (done["stage"], done["percent"]) == ("done", 100)
        assert done["download_url"] == f"/api/jobs/{job_id}/download"
        assert set(done["timings"]) >= {"queued", "tracking", "rendering"}

        stale = JobProgress(job_id=job_id, stage=Stage.RENDERING, percent=80)
        await publish(kafka_bootstrap, topics.JOB_PROGRESS, stale)
        await eventually(
            lambda: gateway.db.fetchval(
                "SELECT true FROM processed_events WHERE event_id = $1", stale.event_id
            )
        )
        after = await job()
        assert (after["status"], after["stage"], after["percent"]) == ("completed", "done", 100)

        link = await client.get(f"/api/jobs/{job_id}/download", headers=auth)
        assert link.status_code == 200
        async with httpx.AsyncClient() as browser:
            got = await browser.get(link.json()["url"])
        assert got.status_code == 200
        assert got.content == clips["small"].read_bytes()
        assert "attachment" in got.headers.get("content-disposition", "")

        metrics = (await gateway.scrape()).text
        assert 'tapmask_gateway_stage_duration_seconds_count{stage="tracking"} 1.0' in metrics
        progress_topic = TOPIC_PREFIX + topics.JOB_PROGRESS
        assert f'tapmask_gateway_consumer_lag{{topic="{progress_topic}"}} 0.0' in metrics


async def test_cleanup_deletes_expired_files_and_marks_the_job(
    make_settings: Callable[..., Settings], clips: dict[str, Path], postgres_dsn: str
) -> None:
    # Its own schema: expiring "everything due" must not touch the other tests' jobs.
    database = DatabaseSettings(url=await new_schema(postgres_dsn))
    settings = make_settings(run_background=False, database=database)
    async with running_gateway(settings) as served:
        async with served.client() as client:
            used_key = await upload(client, clips["small"])
            created = (await create_job(client, used_key)).json()
            unused_key = await upload(client, clips["small"])
        gw = served
        job_id = UUID(created["job_id"])
        row = await gw.db.fetchrow("SELECT upload_key, expires_at FROM jobs WHERE id = $1", job_id)
        assert gw.s3.object_size(row["upload_key"]) is not None
        # Not yet due: nothing happens to this job.
        await cleanup_once(gw.db, gw.s3, now=row["expires_at"] - timedelta(minutes=1))
        assert await gw.db.fetchval("SELECT status FROM jobs WHERE id = $1", job_id) == "pending"

        await cleanup_once(gw.db, gw.s3, now=row["expires_at"] + timedelta(hours=1))
        assert await gw.db.fetchval("SELECT status FROM jobs WHERE id = $1", job_id) == "expired"
        assert gw.s3.object_size(row["upload_key"]) is None
        # The upload the job was pinned from goes too, not only the job's copy.
        assert row["upload_key"] != used_key and gw.s3.object_size(used_key) is None
        assert gw.s3.object_size(unused_key) is None
        async with served.client() as client:
            gone = await client.get(
                f"/api/jobs/{job_id}/download", params={"token": created["access_token"]}
            )
        assert gone.status_code == 410


async def test_a_job_committed_before_a_crash_still_reaches_kafka(
    make_settings: Callable[..., Settings],
    clips: dict[str, Path],
    postgres_dsn: str,
    kafka_bootstrap: str,
) -> None:
    """The job row and its job-created event are one transaction: a gateway that stops
    before relaying leaves the event in the outbox, and the next gateway sends it."""
    database = DatabaseSettings(url=await new_schema(postgres_dsn))
    without_relay = make_settings(run_background=False, database=database)
    async with running_gateway(without_relay) as served, served.client() as client:
        created = await create_job(client, await upload(client, clips["small"]))
        assert created.status_code == 201
        job_id = UUID(created.json()["job_id"])
        pending = await served.db.fetchval(
            "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND payload->>'job_id' = $1",
            str(job_id),
        )
        assert pending == 1
    # "Restart": a gateway with its relay running picks the event up.
    async with running_gateway(make_settings(database=database)) as served:
        event, key = await next_job_created(kafka_bootstrap, job_id)
        assert key == str(job_id).encode()
        row_key = await served.db.fetchval("SELECT upload_key FROM jobs WHERE id = $1", job_id)
        assert event.upload_key == row_key
        await eventually(
            lambda: served.db.fetchval(
                "SELECT sent_at IS NOT NULL FROM outbox WHERE payload->>'job_id' = $1",
                str(job_id),
            )
        )
