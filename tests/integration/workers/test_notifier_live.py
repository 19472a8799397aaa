"""The notifier as a real process on real Kafka: late subscribers, Last-Event-ID, tokens."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from workers_harness import sse_events

from tapmask_notifier.tokens import job_token
from tapmask_schemas import JobFailed, JobProgress, Stage, VideoReady
from tapmask_schemas.topics import JOB_FAILED, JOB_PROGRESS, VIDEO_READY

pytestmark = pytest.mark.integration


async def wait_known(stack: Any, job_id: uuid.UUID, percent: float) -> None:
    """Until the notifier's current state of the job shows ``percent``."""
    for _ in range(150):
        try:
            async with (
                httpx.AsyncClient(timeout=2) as client,
                client.stream(
                    "GET",
                    f"{stack.notifier_url}/api/jobs/{job_id}/events",
                    params={"token": job_token(stack.token_secret, job_id)},
                ) as response,
            ):
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        if f'"percent": {percent}' in line:
                            return
                        break
        except (httpx.ConnectError, httpx.ReadTimeout):
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"the notifier never showed {percent} % for {job_id}")


async def test_late_subscriber_gets_the_current_state_and_resume_skips_seen_events(
    stack: Any,
) -> None:
    job = uuid.uuid4()
    for p in (10.0, 20.0, 30.0):
        await stack.send(JOB_PROGRESS, JobProgress(job_id=job, stage=Stage.TRACKING, percent=p))
    await wait_known(stack, job, 30.0)

    late = asyncio.create_task(sse_events(stack, job))
    resumed = asyncio.create_task(sse_events(stack, job, headers={"Last-Event-ID": "1"}))
    await asyncio.sleep(1.0)  # both connected and waiting
    await stack.send(JOB_PROGRESS, JobProgress(job_id=job, stage=Stage.RENDERING, percent=60))
    await stack.send(
        VIDEO_READY, VideoReady(job_id=job, output_key="o", size_bytes=1, duration_seconds=2)
    )

    late_events = await asyncio.wait_for(late, 30)
    assert [(e["id"], e["data"]["percent"]) for e in late_events] == [
        (3, 30.0),  # the current state first, not the history
        (4, 60.0),
        (5, 100.0),
    ]
    assert late_events[-1]["data"]["status"] == "completed"  # and the stream closed after it
    resumed_events = await asyncio.wait_for(resumed, 30)
    assert [e["id"] for e in resumed_events] == [2, 3, 4, 5]


async def test_stream_ends_with_failed_and_tokens_are_per_job(stack: Any) -> None:
    job, other = uuid.uuid4(), uuid.uuid4()
    await stack.send(JOB_PROGRESS, JobProgress(job_id=job, stage=Stage.RENDERING, percent=55))
    await stack.send(
        JOB_FAILED, JobFailed(job_id=job, stage=Stage.RENDERING, reason="the video is damaged")
    )
    events = await asyncio.wait_for(sse_events(stack, job), 30)
    last = events[-1]["data"]
    assert (last["status"], last["reason"]) == ("failed", "the video is damaged")

    async with httpx.AsyncClient(timeout=5) as client:
        url = f"{stack.notifier_url}/api/jobs/{job}/events"
        wrong = await client.get(url, params={"token": job_token(stack.token_secret, other)})
        assert wrong.status_code == 404
        assert (await client.get(url)).status_code == 404
        metrics = (await client.get(f"{stack.notifier_url}/metrics")).text
        assert "tapmask_notifier_events_total" in metrics
