"""The notifier app over FastStream's in-memory broker: tokens, SSE framing, resume, close."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

from tapmask_notifier.app import create_app
from tapmask_notifier.controllers.sse import JobLookup
from tapmask_notifier.gateway_client import JobNotFound
from tapmask_notifier.ids import EventKey
from tapmask_notifier.settings import Settings, StreamSettings
from tapmask_runtime.tokens import job_token
from tapmask_schemas import Event, JobFailed, JobProgress, Stage, VideoReady
from tapmask_schemas.topics import JOB_FAILED, JOB_PROGRESS, VIDEO_READY

SECRET = "unit-test-secret"


def parse_sse(text: str) -> list[dict[str, Any]]:
    """SSE text -> [{"id": ..., "data": {...}} | {"comment": ...}] in order."""
    out: list[dict[str, Any]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        item: dict[str, Any] = {}
        for line in block.splitlines():
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "":
                item.setdefault("comment", value)
            elif field == "id":
                item["id"] = int(value)
            elif field == "data":
                item["data"] = json.loads(value)
        if item:
            out.append(item)
    return out


@asynccontextmanager
async def running_notifier(
    lookup: JobLookup | None = None,
) -> AsyncIterator[tuple[KafkaBroker, httpx.AsyncClient]]:
    broker = KafkaBroker()
    settings = Settings(token_secret=SECRET, notifier=StreamSettings(keepalive_s=0.05, history_s=0))
    app = create_app(settings, broker=broker, lookup=lookup)
    # Same event loop as the in-memory broker (Litestar's test client runs the app on a
    # loop of its own); the app's lifespan would only start the broker, already started.
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with (
        TestKafkaBroker(broker) as br,
        httpx.AsyncClient(transport=transport, base_url="http://notifier") as client,
    ):
        yield br, client


@pytest.fixture
async def notifier() -> Any:
    async with running_notifier() as pair:
        yield pair


T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def sse_id(event: Event) -> int:
    """The id any notifier gives an event."""
    return int(EventKey.of(event.occurred_at, event.event_id).sse_id)


def url(job: UUID, token: str | None = None) -> str:
    return f"/api/jobs/{job}/events?token={token or job_token(SECRET, job)}"


async def test_wrong_or_missing_token_is_404(notifier: Any) -> None:
    _, client = notifier
    job = uuid4()
    assert (await client.get(f"/api/jobs/{job}/events")).status_code == 404
    assert (await client.get(url(job, job_token(SECRET, uuid4())))).status_code == 404
    assert (await client.get(url(job, job_token("other-secret", job)))).status_code == 404


async def test_late_subscriber_gets_current_state_then_stream_ends_at_completion(
    notifier: Any,
) -> None:
    br, client = notifier
    job = uuid4()
    for p in (10.0, 40.0):
        await br.publish(JobProgress(job_id=job, stage=Stage.TRACKING, percent=p), JOB_PROGRESS)
    done = VideoReady(job_id=job, output_key="o", size_bytes=10, duration_seconds=1)
    await br.publish(done, VIDEO_READY)
    response = await client.get(url(job), headers={"Authorization": "Bearer nonsense"})
    assert response.status_code == 404  # the header wins over ?token=
    response = await client.get(url(job))
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [e for e in parse_sse(response.text) if "data" in e]
    # Connected after the job finished: the current (final) state only, then the end.
    assert [(e["id"], e["data"]["status"], e["data"]["percent"]) for e in events] == [
        (sse_id(done), "completed", 100.0)
    ]


async def test_resume_from_last_event_id_and_failed_is_final(notifier: Any) -> None:
    br, client = notifier
    job = uuid4()
    sent: list[Event] = [
        JobProgress(job_id=job, occurred_at=at(p), stage=Stage.TRACKING, percent=p)
        for p in (5.0, 15.0, 25.0)
    ]
    sent.append(
        JobFailed(
            job_id=job,
            occurred_at=at(30),
            stage=Stage.TRACKING,
            reason="the click is outside the frame",
        )
    )
    for event in sent:
        await br.publish(event, JOB_FAILED if isinstance(event, JobFailed) else JOB_PROGRESS)
    response = await client.get(
        f"/api/jobs/{job}/events",
        headers={
            "Authorization": f"Bearer {job_token(SECRET, job)}",
            "Last-Event-ID": str(sse_id(sent[1])),
        },
    )
    events = [e for e in parse_sse(response.text) if "data" in e]
    assert [e["id"] for e in events] == [sse_id(sent[2]), sse_id(sent[3])]
    assert events[0]["data"]["percent"] == 25.0
    last = events[-1]["data"]
    assert last["status"] == "failed" and last["stage"] == "tracking"
    assert last["reason"] == "the click is outside the frame" and last["percent"] == 25.0


async def test_unknown_job_starts_pending_with_keepalives_until_events_arrive(
    notifier: Any,
) -> None:
    br, client = notifier
    job = uuid4()

    async def worker_reports_later() -> None:
        await asyncio.sleep(0.3)  # several keep-alive periods (0.05 s) of silence first
        await br.publish(JobProgress(job_id=job, stage=Stage.RENDERING, percent=70), JOB_PROGRESS)
        await br.publish(
            VideoReady(job_id=job, output_key="o", size_bytes=1, duration_seconds=1), VIDEO_READY
        )

    later = asyncio.create_task(worker_reports_later())
    # The test client reads the whole body: this returns once the stream closed itself.
    response = await asyncio.wait_for(client.get(url(job)), 10)
    await later
    items = parse_sse(response.text)
    data = [e["data"] for e in items if "data" in e]
    assert [(e["status"], e["stage"], e["percent"]) for e in data] == [
        ("pending", "queued", 0.0),
        ("processing", "rendering", 70.0),
        ("completed", "done", 100.0),
    ]
    first_data = next(i for i, e in enumerate(items) if "data" in e)
    keepalives = [i for i, e in enumerate(items) if e.get("comment") == "keep-alive"]
    assert len(keepalives) >= 2 and all(i > first_data for i in keepalives)


async def test_metrics_endpoint_reports_events(notifier: Any) -> None:
    br, client = notifier
    await br.publish(JobProgress(job_id=uuid4(), stage=Stage.TRACKING, percent=1), JOB_PROGRESS)
    text = (await client.get("/metrics")).text
    assert 'tapmask_notifier_events_total{outcome="sent",status="processing"} 1.0' in text


async def test_job_older_than_the_history_gets_its_state_from_the_gateway() -> None:
    done, gone, unknown_to_gw = uuid4(), uuid4(), uuid4()
    asked: list[tuple[UUID, str]] = []

    async def gateway(job_id: UUID, token: str) -> dict[str, Any] | None:
        asked.append((job_id, token))
        if job_id == done:
            return {"status": "completed", "stage": "done", "percent": 100.0, "error": None}
        if job_id == gone:
            raise JobNotFound(str(job_id))
        return None  # the gateway could not tell

    async with running_notifier(lookup=gateway) as (br, client):
        response = await asyncio.wait_for(client.get(url(done)), 10)
        [state] = [e["data"] for e in parse_sse(response.text) if "data" in e]
        assert (state["status"], state["percent"]) == ("completed", 100.0)  # and closed
        assert asked == [(done, job_token(SECRET, done))]  # the client's own token

        assert (await client.get(url(gone))).status_code == 404

        async def finish_later() -> None:
            await asyncio.sleep(0.2)
            await br.publish(
                JobFailed(job_id=unknown_to_gw, stage=Stage.RENDERING, reason="disk full"),
                JOB_FAILED,
            )

        later = asyncio.create_task(finish_later())
        response = await asyncio.wait_for(client.get(url(unknown_to_gw)), 10)
        await later
        data = [e["data"]["status"] for e in parse_sse(response.text) if "data" in e]
        assert data == ["pending", "failed"]


async def test_last_event_id_from_one_notifier_resumes_on_another() -> None:
    """Two replicas (or one before and after a restart) fed the same events, the
    topics interleaved differently: an id issued by one resumes on the other."""
    job = uuid4()
    progress = [
        JobProgress(job_id=job, occurred_at=at(p), stage=Stage.RENDERING, percent=p)
        for p in (50.0, 60.0, 70.0, 80.0)
    ]
    done = VideoReady(
        job_id=job, occurred_at=at(90), output_key="o", size_bytes=1, duration_seconds=1
    )
    headers = {"Last-Event-ID": str(sse_id(progress[0]))}
    async with running_notifier() as (br1, client1), running_notifier() as (br2, client2):
        for event in progress:
            await br1.publish(event, JOB_PROGRESS)
        await br1.publish(done, VIDEO_READY)
        # The other replica got video-ready before the last progress (another topic).
        for event in progress[:2]:
            await br2.publish(event, JOB_PROGRESS)
        await br2.publish(done, VIDEO_READY)
        for event in progress[2:]:
            await br2.publish(event, JOB_PROGRESS)

        first = [e for e in parse_sse((await client1.get(url(job), headers=headers)).text)]
        ids = [e["id"] for e in first if "id" in e]
        assert [e["data"]["percent"] for e in first if "data" in e] == [60, 70, 80, 100]
        # The client saw up to 70 % on the first, then reconnects to the second.
        again = parse_sse(
            (await client2.get(url(job), headers={"Last-Event-ID": str(ids[1])})).text
        )
        assert [(e["id"], e["data"]["percent"]) for e in again if "data" in e] == [
            (ids[2], 80.0),
            (ids[3], 100.0),
        ]
        # A counter from an older notifier is no event's id: the current state.
        old = parse_sse((await client2.get(url(job), headers={"Last-Event-ID": "2"})).text)
        assert [e["id"] for e in old if "data" in e] == [ids[-1]]
