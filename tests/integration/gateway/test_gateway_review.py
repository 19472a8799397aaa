"""GET /api/jobs/{id} tells which tracker made the masks and which frames to check, once
masks-ready was projected (real Kafka, PostgreSQL and S3)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from gateway_harness import (
    Served,
    create_job,
    eventually,
    new_schema,
    publish,
    upload,
)
from job_events import masks_ready, video_ready

from tapmask_gateway.adapters import db
from tapmask_schemas import (
    JobProgress,
    MasksReady,
    ReviewRange,
    Stage,
    topics,
)

pytestmark = pytest.mark.integration

LOST = "object lost; mask held and widened"
VIDEO = {
    "width": 64,
    "height": 48,
    "frame_count": 20,
    "duration_seconds": 2.0,
    "fps": 10.0,
    "has_audio": False,
}


def learned_masks(job_id: UUID, review: list[ReviewRange]) -> MasksReady:
    return masks_ready(job_id, frames_with_object=18, tracker_backend="learned", review=review)


class Job:
    def __init__(self, client: httpx.AsyncClient, created: dict[str, Any]) -> None:
        self.client = client
        self.id = UUID(created["job_id"])
        self.auth = {"Authorization": f"Bearer {created['access_token']}"}

    async def get(self) -> dict[str, Any]:
        got = await self.client.get(f"/api/jobs/{self.id}", headers=self.auth)
        assert got.status_code == 200, got.text
        return dict(got.json())

    async def until(self, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            state = await self.get()
            return state if pred(state) else None

        return dict(await eventually(check))


async def new_job(client: httpx.AsyncClient, clip: Path) -> Job:
    created = await create_job(client, await upload(client, clip))
    assert created.status_code == 201, created.text
    return Job(client, created.json())


async def test_job_status_shows_the_tracker_and_the_frames_to_check(
    gateway: Served, kafka_bootstrap: str, clips: dict[str, Path]
) -> None:
    async with gateway.client() as client:
        job = await new_job(client, clips["small"])
        await publish(
            kafka_bootstrap,
            topics.JOB_PROGRESS,
            JobProgress(job_id=job.id, stage=Stage.TRACKING, percent=20),
        )
        tracking = await job.until(lambda s: s["percent"] == 20)
        assert (tracking["tracker_backend"], tracking["review"]) == (None, None)

        review = [
            ReviewRange(start_frame=7, end_frame=12, reason=LOST),
            ReviewRange(start_frame=18, end_frame=18, reason="low confidence"),
        ]
        await publish(kafka_bootstrap, topics.MASKS_READY, learned_masks(job.id, review))
        ready = await job.until(lambda s: s["tracker_backend"] is not None)
        assert ready["tracker_backend"] == "learned"
        assert ready["review"] == [
            {"start_frame": 7, "end_frame": 12, "reason": LOST},
            {"start_frame": 18, "end_frame": 18, "reason": "low confidence"},
        ]
        assert (ready["status"], ready["stage"]) == ("processing", "rendering")

        await publish(kafka_bootstrap, topics.VIDEO_READY, video_ready(job.id))
        done = await job.until(lambda s: s["status"] == "completed")
        assert (done["tracker_backend"], done["review"]) == ("learned", ready["review"])


async def test_masks_ready_read_after_video_ready_still_reaches_the_job_status(
    gateway: Served, kafka_bootstrap: str, clips: dict[str, Path]
) -> None:
    """The projector reads the two topics in no set order: the review is kept anyway."""
    async with gateway.client() as client:
        job = await new_job(client, clips["small"])
        await publish(kafka_bootstrap, topics.VIDEO_READY, video_ready(job.id))
        done = await job.until(lambda s: s["status"] == "completed")
        assert done["review"] is None

        review = [ReviewRange(start_frame=3, end_frame=9, reason=LOST)]
        await publish(kafka_bootstrap, topics.MASKS_READY, learned_masks(job.id, review))
        after = await job.until(lambda s: s["review"] is not None)
        assert after["review"] == [{"start_frame": 3, "end_frame": 9, "reason": LOST}]
        assert (after["status"], after["stage"], after["percent"]) == ("completed", "done", 100)
        assert after["download_url"] == done["download_url"]


async def test_a_sure_tracker_gives_an_empty_review(
    gateway: Served, kafka_bootstrap: str, clips: dict[str, Path]
) -> None:
    async with gateway.client() as client:
        job = await new_job(client, clips["small"])
        await publish(kafka_bootstrap, topics.MASKS_READY, learned_masks(job.id, []))
        ready = await job.until(lambda s: s["tracker_backend"] is not None)
        assert ready["review"] == []


async def test_openapi_documents_the_tracker_and_review_of_a_job(gateway: Served) -> None:
    async with gateway.client() as client:
        schema = (await client.get("/schema/openapi.json")).json()
    view = schema["components"]["schemas"]["JobView"]["properties"]
    assert "tracker_backend" in view and "review" in view
    assert "unsure" in str(view["review"])
    rng = next(v for k, v in schema["components"]["schemas"].items() if "ReviewRange" in k)
    assert set(rng["properties"]) == {"start_frame", "end_frame", "reason"}


async def test_jobs_of_a_database_from_before_the_review_columns_keep_working(
    postgres_dsn: str,
) -> None:
    dsn = await new_schema(postgres_dsn)
    pool = await db.create_pool(dsn, 1, 2)
    try:
        first = (resources.files("tapmask_gateway") / "migrations" / "001_initial.sql").read_text()
        async with pool.acquire() as conn:
            await conn.execute(first)
            await conn.execute(
                "CREATE TABLE schema_migrations (name text PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            await conn.execute("INSERT INTO schema_migrations (name) VALUES ('001_initial.sql')")
        job_id = uuid4()
        await _insert_old_job(pool, job_id)

        # The review columns come with 002 (later migrations may follow it).
        assert (await db.migrate(pool))[0] == "002_tracker_review.sql"
        old = await db.get_job(pool, job_id)
        assert old is not None
        assert (old.state.masks_key, old.state.tracker_backend, old.state.review) == (
            f"masks/{job_id}.masks",
            None,
            None,
        )
    finally:
        await pool.close()


async def _insert_old_job(pool: asyncpg.Pool, job_id: UUID) -> None:
    await pool.execute(
        "INSERT INTO jobs (id, access_token_hash, status, stage, percent, mode, effect, points,"
        " upload_key, masks_key, video, client_ip, tier, expires_at)"
        " VALUES ($1, 'h', 'processing', 'rendering', 50, 'privacy', 'blur', $2, 'uploads/a',"
        " $3, $4, '127.0.0.1', 'free', $5)",
        job_id,
        [{"x": 1, "y": 1}],
        f"masks/{job_id}.masks",
        VIDEO,
        datetime.now(UTC) + timedelta(hours=1),
    )
