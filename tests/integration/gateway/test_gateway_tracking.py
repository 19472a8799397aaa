"""Watching a job while it tracks, and correcting it there (issue 19), on the real gateway
(Kafka, PostgreSQL, S3): the previews the tracker stores, served to the job's owner; pause,
hold before rendering, resume with corrected clicks, accept; refused in plain words once
rendering has begun, to anyone without the job's token, and for clicks off the video."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import anyio
import httpx
import pytest
from gateway_harness import Served, create_job, eventually, next_job_created, publish, upload
from job_events import masks_ready

from tapmask_schemas import JobCreated, topics
from tapmask_schemas.keys import hold_key, previews_key
from tapmask_schemas.tracking import FramePreview, TrackHold, TrackPreviews

pytestmark = pytest.mark.integration


async def _job(client: httpx.AsyncClient, clip: Any) -> tuple[UUID, dict[str, str]]:
    key = await upload(client, clip)
    created = await create_job(client, key, 20, 20)
    assert created.status_code == 201, created.text
    body = created.json()
    return UUID(body["job_id"]), {"Authorization": f"Bearer {body['access_token']}"}


async def test_previews_and_the_hold_of_a_tracking_job(
    gateway: Served, clips: dict[str, Any]
) -> None:
    async with gateway.client() as client:
        job_id, auth = await _job(client, clips["small"])
        base = f"/api/jobs/{job_id}"
        # Nothing tracked yet: an empty set, with the step the tracker will keep.
        empty = await client.get(f"{base}/previews", headers=auth)
        assert empty.status_code == 200, empty.text
        assert empty.json()["frames_done"] == 0 and empty.json()["frame_count"] == 20
        assert empty.json()["step"] == 5 and empty.json()["previews"] == []

        # The tracker's previews, as it stores them, come back to the owner as they are.
        stored = TrackPreviews(
            frames_done=6,
            frame_count=20,
            step=5,
            unsure=[5],
            previews=[
                FramePreview(frame=0, png="iVBORw0KGgo=", area=0.1),
                FramePreview(frame=5, png="iVBORw0KGgo=", area=0.0),
            ],
        )
        key = previews_key(job_id)
        await anyio.to_thread.run_sync(gateway.s3.put_bytes, key, stored.model_dump_json().encode())
        got = await client.get(f"{base}/previews", headers=auth)
        assert TrackPreviews.model_validate(got.json()) == stored

        # Hold before rendering, then pause: both kept, as the tracker will read them.
        held = await client.post(f"{base}/pause", json={"at_end": True}, headers=auth)
        assert held.status_code == 200 and held.json()["at_end"] and not held.json()["paused"]
        paused = await client.post(f"{base}/pause", headers=auth)
        assert paused.json()["paused"] and paused.json()["at_end"]

        def stored_hold() -> TrackHold:
            body = gateway.s3.client.get_object(Bucket=gateway.s3.bucket, Key=hold_key(job_id))
            return TrackHold.model_validate_json(body["Body"].read())

        assert (await anyio.to_thread.run_sync(stored_hold)).paused

        # Corrected clicks: checked against the video, then the tracker's to start again.
        off = await client.post(
            f"{base}/resume", json={"points": [{"x": 20, "y": 20, "frame": 20}]}, headers=auth
        )
        assert off.status_code == 422 and "the video has 20 frames" in off.json()["detail"]
        wide = await client.post(
            f"{base}/resume", json={"points": [{"x": 500, "y": 20}]}, headers=auth
        )
        assert wide.status_code == 422 and "outside the" in wide.json()["detail"]
        negative = await client.post(
            f"{base}/resume", json={"points": [{"x": 5, "y": 5, "positive": False}]}, headers=auth
        )
        assert negative.status_code == 422 and "positive" in negative.json()["detail"]
        points = [{"x": 20, "y": 20, "frame": 0}, {"x": 30, "y": 22, "frame": 12}]
        fixed = await client.post(f"{base}/resume", json={"points": points}, headers=auth)
        assert fixed.status_code == 200, fixed.text
        hold = TrackHold.model_validate(fixed.json())
        assert not hold.paused and hold.at_end and hold.revision == 1
        assert [(p.x, p.y, p.frame) for p in hold.points or []] == [(20, 20, 0), (30, 22, 12)]
        assert await anyio.to_thread.run_sync(stored_hold) == hold
        # The OK: rendering may start.
        accepted = await client.post(f"{base}/resume", json={"accept": True}, headers=auth)
        assert not accepted.json()["at_end"] and accepted.json()["revision"] == 1
        assert (await client.get(f"{base}/hold", headers=auth)).json() == accepted.json()

        # Without the job's token (or with it in the query string): no such job.
        other = {"Authorization": "Bearer not-the-token"}
        for method, path in [("GET", "previews"), ("GET", "hold"), ("POST", "pause")]:
            refused = await client.request(method, f"{base}/{path}", headers=other)
            assert refused.status_code == 404, (path, refused.text)
        token = auth["Authorization"].removeprefix("Bearer ")
        queried = await client.get(f"{base}/previews", params={"token": token})
        assert queried.status_code == 404


async def test_no_pause_once_rendering_has_begun(
    gateway: Served, kafka_bootstrap: str, clips: dict[str, Any]
) -> None:
    async with gateway.client() as client:
        job_id, auth = await _job(client, clips["small"])
        first, _ = await next_job_created(kafka_bootstrap, job_id)
        assert isinstance(first, JobCreated)
        await publish(
            kafka_bootstrap,
            topics.MASKS_READY,
            masks_ready(job_id, upload_key=first.upload_key, video=first.video),
        )

        async def masks_known() -> bool:
            got = await client.get(f"/api/jobs/{job_id}", headers=auth)
            return got.json().get("tracker_backend") is not None

        await eventually(masks_known)
        late = await client.post(f"/api/jobs/{job_id}/pause", headers=auth)
        assert late.status_code == 409
        assert late.json()["detail"] == "the outline is done and the video is being rendered"
        cancelled = await client.post(f"/api/jobs/{job_id}/cancel", headers=auth)
        assert cancelled.status_code == 200
        after = await client.post(f"/api/jobs/{job_id}/resume", headers=auth)
        assert after.status_code == 409 and "cancelled" in after.json()["detail"]
