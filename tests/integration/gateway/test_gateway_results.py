"""After a job (real Kafka, PostgreSQL and S3): its original for before/after, rendering
its stored masks again with another effect (track once, render many), and a re-run with
corrected clicks on a later frame."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest
from gateway_harness import (
    Served,
    create_job,
    eventually,
    next_event,
    next_job_created,
    publish,
    upload,
)
from job_events import masks_ready

from tapmask_runtime.cancels import cancel_key
from tapmask_schemas import (
    Effect,
    JobCreated,
    JobProgress,
    JobStatus,
    MasksReady,
    ReviewRange,
    VideoInfo,
    topics,
)

pytestmark = pytest.mark.integration


async def next_masks_ready(bootstrap: str, job_id: UUID) -> MasksReady:
    event, _ = await next_event(bootstrap, topics.MASKS_READY, job_id)
    assert isinstance(event, MasksReady)
    return event


async def _job(client: httpx.AsyncClient, clip: Any) -> tuple[UUID, dict[str, str], JobCreated]:
    key = await upload(client, clip)
    created = await create_job(client, key, 20, 20)
    assert created.status_code == 201, created.text
    body = created.json()
    return UUID(body["job_id"]), {"Authorization": f"Bearer {body['access_token']}"}, body


async def _job_and_event(
    client: httpx.AsyncClient, kafka_bootstrap: str, clip: Any
) -> tuple[UUID, dict[str, str], JobCreated]:
    """A new job on ``clip``: its id, its authorization header and its job-created event as
    Kafka has it."""
    job_id, auth, _ = await _job(client, clip)
    first, _ = await next_job_created(kafka_bootstrap, job_id)
    assert isinstance(first, JobCreated)
    return job_id, auth, first


async def test_masks_are_rendered_again_with_another_effect_without_tracking(
    gateway: Served, kafka_bootstrap: str, clips: dict[str, Any]
) -> None:
    async with gateway.client() as client:
        job_id, auth, first = await _job_and_event(client, kafka_bootstrap, clips["small"])

        early = await client.post(
            f"/api/jobs/{job_id}/render", json={"processing_mode": "privacy"}, headers=auth
        )
        assert early.status_code == 409
        assert "outline is not ready yet" in early.json()["detail"]

        review = [ReviewRange(start_frame=3, end_frame=7, reason="object lost; mask held")]
        await publish(
            kafka_bootstrap,
            topics.MASKS_READY,
            masks_ready(
                job_id,
                upload_key=first.upload_key,
                video=first.video,
                frames_with_object=18,
                tracker_backend="learned",
                review=review,
            ),
        )

        async def masks_known() -> bool:
            got = await client.get(f"/api/jobs/{job_id}", headers=auth)
            return got.json()["tracker_backend"] == "learned"

        await eventually(masks_known)
        again = await client.post(
            f"/api/jobs/{job_id}/render",
            json={"processing_mode": "privacy", "effect": "pixelate"},
            headers=auth,
        )
        assert again.status_code == 201, again.text
        second = again.json()
        new_id = UUID(second["job_id"])
        assert new_id != job_id
        # The renderer gets the first job's masks and input straight away: no tracking.
        event = await next_masks_ready(kafka_bootstrap, new_id)
        assert event.masks_key == f"masks/{job_id}.masks"
        assert event.upload_key == first.upload_key
        assert event.effect is Effect.PIXELATE
        assert event.review == review
        # The new job has its own token; the first one's does not open it.
        own = await client.get(
            f"/api/jobs/{new_id}", headers={"Authorization": f"Bearer {second['access_token']}"}
        )
        assert own.status_code == 200 and own.json()["effect"] == "pixelate"
        assert (await client.get(f"/api/jobs/{new_id}", headers=auth)).status_code == 404


async def test_a_rerun_takes_corrected_clicks_on_a_later_frame(
    gateway: Served, kafka_bootstrap: str, clips: dict[str, Any]
) -> None:
    async with gateway.client() as client:
        job_id, auth, first = await _job_and_event(client, kafka_bootstrap, clips["small"])
        points = [
            {"x": 20, "y": 20, "frame": 0},
            {"x": 40, "y": 24, "frame": 12},
            {"x": 5, "y": 5, "frame": 12, "positive": False},
        ]
        outside = await client.post(
            f"/api/jobs/{job_id}/rerun",
            json={"points": [{"x": 20, "y": 20, "frame": 25}]},
            headers=auth,
        )
        assert outside.status_code == 422
        assert outside.json()["detail"] == "frame 25 is past the end of the video (20 frames)"
        rerun = await client.post(
            f"/api/jobs/{job_id}/rerun", json={"points": points}, headers=auth
        )
        assert rerun.status_code == 201, rerun.text
        event, _ = await next_job_created(kafka_bootstrap, UUID(rerun.json()["job_id"]))
        assert isinstance(event, JobCreated)
        assert [(p.x, p.y, p.frame, p.positive) for p in event.points] == [
            (20, 20, 0, True),
            (40, 24, 12, True),
            (5, 5, 12, False),
        ]
        assert event.upload_key == first.upload_key
        assert VideoInfo.model_validate(event.video) == first.video


async def test_the_original_is_there_for_before_and_after(
    gateway: Served, clips: dict[str, Any]
) -> None:
    async with gateway.client() as client:
        job_id, auth, _ = await _job(client, clips["small"])
        got = await client.get(f"/api/jobs/{job_id}/original", headers=auth)
        assert got.status_code == 200, got.text
        async with httpx.AsyncClient(timeout=30) as store:
            original = await store.get(got.json()["url"])
        assert original.status_code == 200
        assert original.content == clips["small"].read_bytes()
        stranger = await client.get(f"/api/jobs/{job_id}/original")
        assert stranger.status_code == 404


async def test_a_running_job_is_cancelled_and_its_workers_are_told(
    gateway: Served, kafka_bootstrap: str, clips: dict[str, Any]
) -> None:
    async with gateway.client() as client:
        job_id, auth, _ = await _job(client, clips["small"])
        stopped = await client.post(f"/api/jobs/{job_id}/cancel", headers=auth)
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["status"] == "cancelled"
        view = (await client.get(f"/api/jobs/{job_id}", headers=auth)).json()
        assert (view["status"], view["error"]) == ("cancelled", "cancelled by you")
        # The workers' marker (tapmask_runtime.cancels) is in the bucket.
        assert gateway.s3.object_size(cancel_key(job_id)) is not None
        # Browsers following the job hear it on the progress topic (through the notifier).
        event, _ = await next_event(kafka_bootstrap, topics.JOB_PROGRESS, job_id)
        assert isinstance(event, JobProgress)
        assert event.status is JobStatus.CANCELLED
        again = await client.post(f"/api/jobs/{job_id}/cancel", headers=auth)
        assert again.status_code == 409
        assert again.json()["detail"] == "the job has already been cancelled"
        # Only with the job's token.
        other_job, _, _ = await _job(client, clips["small"])
        assert (await client.post(f"/api/jobs/{other_job}/cancel")).status_code == 404
