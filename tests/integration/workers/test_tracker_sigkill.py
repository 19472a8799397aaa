"""The tracker SIGKILLed mid-job (issue 18: only SIGTERM was tested): the job is not lost.

The kill lands mid-tracking by construction, not by racing the clock: the owner's hold (as
the gateway writes it) pauses the tracker at its next frame, the test sees it paused,
kills it there, lifts the hold and starts a new tracker, which gets the uncommitted job
again and finishes it, once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tapmask_schemas.keys import hold_key
from tapmask_schemas.topics import JOB_CREATED, JOB_FAILED, JOB_PROGRESS, MASKS_READY, VIDEO_READY

pytestmark = pytest.mark.integration


async def test_a_tracker_killed_mid_job_leaves_the_job_to_the_next_tracker_once(
    stack: Any, s3_client: Any
) -> None:
    obs = stack.observer
    tracker = stack.processes["tracker"]
    job = stack.job()

    async def hold(body: bytes) -> None:
        await asyncio.to_thread(
            s3_client.put_object, Bucket=stack.s3.bucket, Key=hold_key(job.job_id), Body=body
        )

    await hold(b'{"paused": true}')
    await stack.send(JOB_CREATED, job)

    def paused() -> bool:
        return any(
            r.json["stage"] == "tracking" and r.json["message"].startswith("Paused at frame")
            for r in obs.of(JOB_PROGRESS, job.job_id)
        )

    await obs.wait_for("the tracker paused mid-job", paused, 120)
    tracker.kill9()
    assert not obs.of(MASKS_READY, job.job_id)
    await hold(b'{"paused": false}')
    tracker.start()

    [ready] = await obs.wait_for(
        "video-ready after the restart", lambda: obs.of(VIDEO_READY, job.job_id), 180
    )
    await asyncio.sleep(3)  # a grace period for any duplicate to show up
    assert len(obs.of(MASKS_READY, job.job_id)) == 1
    assert [r.json["output_key"] for r in obs.of(VIDEO_READY, job.job_id)] == [
        ready.json["output_key"]
    ]
    assert not obs.of(JOB_FAILED, job.job_id)
    last = obs.of(JOB_PROGRESS, job.job_id)[-1].json
    assert last["status"] == "completed" and last["percent"] == 100
