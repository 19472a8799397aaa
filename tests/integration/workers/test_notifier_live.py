"""The notifier as a real process on real Kafka: late subscribers, Last-Event-ID (also
across a restart), tokens."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from workers_harness import read_events, sse_events

from tapmask_notifier.ids import EventKey
from tapmask_runtime.tokens import job_token
from tapmask_schemas import Event, JobFailed, JobProgress, Stage, VideoReady
from tapmask_schemas.topics import JOB_FAILED, JOB_PROGRESS, VIDEO_READY

pytestmark = pytest.mark.integration


class Job:
    """One job's events, stamped a millisecond apart in the order they are made."""

    def __init__(self) -> None:
        self.id = uuid.uuid4()
        self._t0 = datetime.now(UTC)
        self._n = 0

    def _at(self) -> datetime:
        self._n += 1
        return self._t0 + timedelta(milliseconds=self._n)

    def progress(self, percent: float, stage: Stage = Stage.TRACKING) -> JobProgress:
        return JobProgress(job_id=self.id, occurred_at=self._at(), stage=stage, percent=percent)

    def done(self) -> VideoReady:
        return VideoReady(
            job_id=self.id, occurred_at=self._at(), output_key="o", size_bytes=1, duration_seconds=2
        )


def sse_id(event: Event) -> int:
    """The id every notifier gives the event."""
    return int(EventKey.of(event.occurred_at, event.event_id).sse_id)


async def wait_known(stack: Any, job_id: uuid.UUID, percent: float) -> int:
    """Until the notifier's current state of the job shows ``percent``; its SSE id."""
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
                issued = None
                async for line in response.aiter_lines():
                    if line.startswith("id: "):
                        issued = int(line[4:])
                    if line.startswith("data: "):
                        if f'"percent": {percent}' in line and issued is not None:
                            return issued
                        break
        except (httpx.ConnectError, httpx.ReadTimeout):
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"the notifier never showed {percent} % for {job_id}")


async def send_early(stack: Any, job: Job) -> list[JobProgress]:
    """The job's tracking progress at 10, 20 and 30 %, sent in that order."""
    early = [job.progress(p) for p in (10.0, 20.0, 30.0)]
    for event in early:
        await stack.send(JOB_PROGRESS, event)
    return early


async def finish(stack: Any, job: Job, percent: float) -> tuple[JobProgress, VideoReady]:
    """The job's rendering progress at ``percent``, then its video-ready once the notifier
    shows that progress: topics are read in no set order, and video-ready read first would
    end the streams."""
    rendering, done = job.progress(percent, Stage.RENDERING), job.done()
    await stack.send(JOB_PROGRESS, rendering)
    await wait_known(stack, job.id, rendering.percent)
    await stack.send(VIDEO_READY, done)
    return rendering, done


async def test_late_subscriber_gets_the_current_state_and_resume_skips_seen_events(
    stack: Any,
) -> None:
    job = Job()
    early = await send_early(stack, job)
    assert await wait_known(stack, job.id, 30.0) == sse_id(early[-1])

    late_in, resumed_in = asyncio.Event(), asyncio.Event()
    late = asyncio.create_task(read_events(stack, job.id, late_in))
    resumed = asyncio.create_task(
        read_events(stack, job.id, resumed_in, {"Last-Event-ID": str(sse_id(early[0]))})
    )
    await asyncio.wait_for(asyncio.gather(late_in.wait(), resumed_in.wait()), 30)
    rendering, done = await finish(stack, job, 60)

    late_events = await asyncio.wait_for(late, 30)
    assert [(e["id"], e["data"]["percent"]) for e in late_events] == [
        (sse_id(early[-1]), 30.0),  # the current state first, not the history
        (sse_id(rendering), 60.0),
        (sse_id(done), 100.0),
    ]
    assert late_events[-1]["data"]["status"] == "completed"  # and the stream closed after it
    resumed_events = await asyncio.wait_for(resumed, 30)
    assert [e["id"] for e in resumed_events] == [
        sse_id(e) for e in (early[1], early[2], rendering, done)
    ]


async def test_resume_after_the_notifier_restarted_sends_exactly_what_was_missed(
    stack: Any,
) -> None:
    job = Job()
    await send_early(stack, job)
    seen = await wait_known(stack, job.id, 30.0)  # an id the running notifier issued

    notifier = stack.processes["notifier"]
    await asyncio.to_thread(notifier.stop)
    while_down = job.progress(45.0)
    await stack.send(JOB_PROGRESS, while_down)
    notifier.start()  # a new process: it replays the last hour of events from Kafka
    connected = asyncio.Event()
    resumed = asyncio.create_task(
        read_events(stack, job.id, connected, {"Last-Event-ID": str(seen)})
    )
    await asyncio.wait_for(connected.wait(), 60)  # whether its replay is done or not
    # The rest once the replay is in: events published in the first moments after a
    # start can reach it before the replayed history (see the README).
    await wait_known(stack, job.id, 45.0)
    rendering, done = await finish(stack, job, 70)

    events = await asyncio.wait_for(resumed, 60)
    assert [(e["id"], e["data"]["percent"]) for e in events] == [
        (sse_id(while_down), 45.0),
        (sse_id(rendering), 70.0),
        (sse_id(done), 100.0),
    ]
    notifier.check_alive()


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
