"""SSE ids mean the same on every notifier: replicas fed the same events in another
interleaving of the topics, and a restarted notifier replaying history, resume a client
exactly where another one left it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from tapmask_notifier.handlers import apply_event
from tapmask_notifier.hub import Hub, Subscription
from tapmask_notifier.ids import EventKey
from tapmask_schemas import Event, JobFailed, JobProgress, Stage, VideoReady

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
JOB, OTHER = uuid4(), uuid4()


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def progress(job: UUID, s: float, stage: Stage, percent: float) -> JobProgress:
    return JobProgress(job_id=job, occurred_at=at(s), stage=stage, percent=percent)


# What Kafka holds, per topic (one partition's order each: a job's key keeps its events
# in order within a topic; nothing orders one topic against another).
TOPICS: dict[str, list[Event]] = {
    "job-progress": [
        progress(JOB, 1.0, Stage.TRACKING, 10),
        progress(OTHER, 1.5, Stage.TRACKING, 20),
        progress(JOB, 2.0, Stage.TRACKING, 40),
        progress(JOB, 3.0, Stage.RENDERING, 60),
        progress(OTHER, 3.5, Stage.TRACKING, 30),  # the retry after its failed attempt
        progress(JOB, 4.0, Stage.RENDERING, 90),
    ],
    "job-failed": [
        JobFailed(
            job_id=OTHER, occurred_at=at(2.5), stage=Stage.TRACKING, reason="x", retryable=True
        ),
        JobFailed(job_id=OTHER, occurred_at=at(4.5), stage=Stage.TRACKING, reason="bad video"),
    ],
    "video-ready": [
        VideoReady(
            job_id=JOB, occurred_at=at(5.0), output_key="o", size_bytes=1, duration_seconds=1
        ),
    ],
}
ALL = sorted((e for events in TOPICS.values() for e in events), key=lambda e: e.occurred_at)


def interleaving(seed: int) -> list[Event]:
    """The topics' events merged in a random order that keeps each topic's own order."""
    rng = random.Random(seed)
    queues = {topic: list(events) for topic, events in TOPICS.items()}
    out: list[Event] = []
    while any(queues.values()):
        topic = rng.choice([t for t, q in queues.items() if q])
        out.append(queues[topic].pop(0))
    return out


def feed(hub: Hub, events: list[Event]) -> None:
    for event in events:
        apply_event(hub, event.model_dump_json().encode())


def received(sub: Subscription) -> Iterator[tuple[str, str, str]]:
    """(id, status, stage) of each update queued for a subscriber."""
    while sub._queue:  # what is queued now, without waiting
        update = sub._queue.popleft()
        yield update.id, update.data["status"], update.data["stage"]


def sse_id(event: Event) -> str:
    return EventKey.of(event.occurred_at, event.event_id).sse_id


BEFORE_ALL = EventKey.of(T0, uuid4()).sse_id


def history(hub: Hub, job: UUID) -> list[tuple[str, str, str]]:
    """Everything the hub would resend to a client that has seen nothing of the job."""
    return list(received(hub.subscribe(job, last_event_id=BEFORE_ALL)))


def test_orders_of_arrival_do_not_change_the_ids_nor_their_order() -> None:
    interleavings = [interleaving(seed) for seed in range(30)]
    assert len({tuple(e.event_id for e in events) for events in interleavings}) > 5
    hubs = [Hub() for _ in interleavings]
    live = [hub.subscribe(JOB) for hub in hubs]
    for hub, events in zip(hubs, interleavings, strict=True):
        feed(hub, events)
    expected_ids = [sse_id(e) for e in ALL if e.job_id == JOB]
    for hub, sub in zip(hubs, live, strict=True):
        assert [i for i, _, _ in history(hub, JOB)] == expected_ids
        assert history(hub, OTHER) == history(hubs[0], OTHER)
        # A client connected all along: increasing ids (older late arrivals are not
        # sent), ending with the completion.
        ids = [(int(i), status) for i, status, _ in received(sub)]
        assert [i for i, _ in ids] == sorted({i for i, _ in ids})
        assert ids[-1] == (int(sse_id(TOPICS["video-ready"][0])), "completed")
    assert [s for _, s, _ in history(hubs[0], OTHER)] == ["processing"] * 3 + ["failed"]


def test_resume_on_another_replica_skips_exactly_what_was_seen() -> None:
    every = [sse_id(e) for e in ALL if e.job_id == JOB]
    resumed_something = 0
    for seed in range(10):
        one, two = interleaving(seed), interleaving(seed + 100)
        second = Hub()
        feed(second, two)  # the replica the client reconnects to has all the events
        for cut in range(1, len(one)):
            first = Hub()
            client = first.subscribe(JOB)
            feed(first, one[:cut])  # the client reads these, then its connection drops
            seen = [i for i, _, _ in received(client)]
            if not seen:
                continue
            sub = second.subscribe(JOB, last_event_id=seen[-1])
            resumed = [i for i, _, _ in received(sub)]
            second.unsubscribe(sub)
            assert not set(seen) & set(resumed)
            assert resumed == [i for i in every if int(i) > int(seen[-1])]
            assert (seen + resumed)[-1] == every[-1]  # up to the end (perhaps seen already)
            resumed_something += bool(resumed)
    assert resumed_something > 10


def test_restarted_notifier_replaying_history_resumes_the_client() -> None:
    before = Hub()
    client = before.subscribe(JOB)
    feed(before, ALL[:4])
    seen = [i for i, _, _ in received(client)]
    assert len(seen) == 2  # 10 and 40 %
    # The notifier restarts: a new hub. The client reconnects while the replay of the
    # last hour is still under way, then the rest of the job happens.
    after = Hub()
    feed(after, ALL[:3])
    sub = after.subscribe(JOB, last_event_id=seen[-1])
    feed(after, ALL[3:])
    got = [i for i, _, _ in received(sub)]
    assert got == [sse_id(e) for e in ALL if e.job_id == JOB][2:]


def test_restarted_notifier_not_yet_knowing_the_job_resends_nothing_seen() -> None:
    before = Hub()
    client = before.subscribe(JOB)
    feed(before, ALL)
    seen = [i for i, _, _ in received(client)][:3]
    after = Hub()
    sub = after.subscribe(JOB, last_event_id=seen[-1])  # before any replay
    feed(after, ALL)  # the replay
    got = [i for i, _, _ in received(sub)]
    assert got == [sse_id(e) for e in ALL if e.job_id == JOB][3:]  # 90 % and the end
