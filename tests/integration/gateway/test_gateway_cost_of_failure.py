"""Work costs something when it fails (issue 9): cheap checks come first, a probe's answer
is kept per upload, probes and unused presigns are counted against the client, and a busy
gateway answers at once instead of queueing without end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from gateway_harness import create_job, running_gateway, upload

from tapmask_gateway.settings import Quotas, Settings, VideoLimits

pytestmark = pytest.mark.integration


async def test_a_refused_job_is_not_probed_again_and_new_probes_are_counted(
    make_settings: Callable[..., Settings], clips: dict[str, Path]
) -> None:
    quotas = Quotas(free_probes_per_minute=1, free_probe_burst=2)
    gateway = running_gateway(make_settings(quotas=quotas, run_background=False))
    async with gateway as served, served.client() as client:
        good = await upload(client, clips["small"])
        # Six clicks outside the 64x48 frame on one upload: one probe, six clear answers.
        for _ in range(6):
            outside = await create_job(client, good, 500, 500)
            assert outside.status_code == 422
            assert "outside the 64x48 frame" in outside.json()["detail"]
        # A file that is not a video: refused, and refused again from memory.
        text = await upload(client, clips["text"])
        for _ in range(3):
            bad = await create_job(client, text)
            assert bad.status_code == 422 and "not a video" in bad.json()["detail"]
        # Two probes spent (the burst): a third upload's probe has to wait.
        third = await create_job(client, await upload(client, clips["long"]))
        assert third.status_code == 429
        assert "too many videos checked" in third.json()["detail"]
        assert int(third.headers["retry-after"]) > 0
        # The probed upload is still good for a job with a click inside.
        assert (await create_job(client, good)).status_code == 201


async def test_too_many_objects_is_refused_before_anything_is_fetched(
    make_settings: Callable[..., Settings],
) -> None:
    limits = VideoLimits(max_objects=3)
    gateway = running_gateway(make_settings(limits=limits, run_background=False))
    async with gateway as served, served.client() as client:
        presign = await client.post(
            "/api/upload/presigned",
            json={"filename": "a.mp4", "content_type": "video/mp4", "size": 1000},
        )
        key = presign.json()["upload_key"]  # never uploaded: the check comes first
        points = [{"x": 5, "y": 5, "object_id": i} for i in range(1, 4)]
        got = await create_job(client, key, points=points)
        assert got.status_code == 422, got.text
        assert "4 objects clicked; a job can follow at most 3" in got.json()["detail"]
        # Negative clicks are no objects: within the limit, the missing file is next.
        negative = [p | {"positive": False} for p in points]
        missing = await create_job(client, key, points=negative)
        assert missing.status_code == 409 and "not been uploaded" in missing.text


async def test_unused_presigns_are_capped_per_client(
    make_settings: Callable[..., Settings], clips: dict[str, Path]
) -> None:
    quotas = Quotas(free_unused_uploads_per_hour=3)
    gateway = running_gateway(make_settings(quotas=quotas, run_background=False))
    async with gateway as served, served.client() as client:
        body = {"filename": "a.mp4", "content_type": "video/mp4", "size": 500 * 1024**2}
        for _ in range(2):
            assert (await client.post("/api/upload/presigned", json=body)).status_code == 200
        used = await upload(client, clips["small"])  # the third
        refused = await client.post("/api/upload/presigned", json=body)
        assert refused.status_code == 429
        assert "3 uploads without a job in the last hour" in refused.json()["detail"]
        # Another client is not affected.
        async with served.client() as other:
            assert (await other.post("/api/upload/presigned", json=body)).status_code == 200
        # A job takes one off the count.
        assert (await create_job(client, used)).status_code == 201
        assert (await client.post("/api/upload/presigned", json=body)).status_code == 200


async def test_a_busy_gateway_answers_at_once(
    make_settings: Callable[..., Settings], clips: dict[str, Path]
) -> None:
    limits = VideoLimits(max_concurrent_probes=1, probe_queue_timeout_s=0.5)
    gateway = running_gateway(make_settings(limits=limits, run_background=False))
    async with gateway as served, served.client() as client:
        key = await upload(client, clips["small"])
        await served.probe_slots.acquire()  # another job's probe, still running
        try:
            busy = await create_job(client, key)
        finally:
            served.probe_slots.release()
        assert busy.status_code == 503, busy.text
        assert "busy" in busy.json()["detail"] and busy.headers["retry-after"]
        assert (await create_job(client, key)).status_code == 201
