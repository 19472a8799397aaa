"""The notifier's hub: fan-out, resume from Last-Event-ID, bounded slow subscribers."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

from tapmask_notifier.hub import Hub, Subscription


def progress(hub: Hub, job: UUID, percent: float, final: bool = False) -> None:
    hub.publish(job, uuid4(), {"status": "processing", "percent": percent}, final)


async def take(sub: Subscription) -> list[tuple[int, float]]:
    got = []
    while (update := await sub.next(0.01)) is not None:
        got.append((update.seq, update.data["percent"]))
    return got


async def test_every_subscriber_of_a_job_gets_every_update() -> None:
    hub = Hub()
    job, other = uuid4(), uuid4()
    a, b = hub.subscribe(job), hub.subscribe(job)
    c = hub.subscribe(other)
    for p in (10, 20, 30):
        progress(hub, job, p)
    assert await take(a) == [(1, 10), (2, 20), (3, 30)]
    assert await take(b) == [(1, 10), (2, 20), (3, 30)]
    assert await take(c) == []


async def test_late_subscriber_starts_from_the_current_state() -> None:
    hub = Hub()
    job = uuid4()
    for p in (10, 20, 30):
        progress(hub, job, p)
    late = hub.subscribe(job)
    assert await take(late) == [(3, 30)]


async def test_resume_after_last_event_id_skips_what_was_seen() -> None:
    hub = Hub()
    job = uuid4()
    for p in (10, 20, 30, 40):
        progress(hub, job, p)
    assert await take(hub.subscribe(job, last_event_id=2)) == [(3, 30), (4, 40)]
    assert await take(hub.subscribe(job, last_event_id=4)) == []  # up to date
    # An id this notifier never issued (another replica, a restart): current state.
    assert await take(hub.subscribe(job, last_event_id=99)) == [(4, 40)]


async def test_resume_older_than_the_ring_gets_the_current_state() -> None:
    hub = Hub(ring_size=3)
    job = uuid4()
    for p in range(1, 11):
        progress(hub, job, p)
    assert await take(hub.subscribe(job, last_event_id=2)) == [(10, 10)]


async def test_duplicate_events_and_events_after_the_final_one_are_dropped() -> None:
    hub = Hub()
    job = uuid4()
    sub = hub.subscribe(job)
    event_id = uuid4()
    assert hub.publish(job, event_id, {"percent": 50}, False)
    assert not hub.publish(job, event_id, {"percent": 50}, False)
    assert hub.publish(job, uuid4(), {"percent": 100}, True)
    assert not hub.publish(job, uuid4(), {"percent": 100}, True)
    assert not hub.publish(job, uuid4(), {"percent": 60}, False)
    assert await take(sub) == [(1, 50), (2, 100)]
    assert hub.latest(job) is not None and hub.latest(job).final  # type: ignore[union-attr]


async def test_slow_subscriber_skips_old_updates_but_never_stalls_others_or_misses_final() -> None:
    hub = Hub(queue_size=4)
    job = uuid4()
    slow, fast = hub.subscribe(job), hub.subscribe(job)
    fast_got: list[float] = []

    async def reader() -> None:
        while (u := await fast.next(1.0)) is not None:
            fast_got.append(u.data["percent"])
            if u.final:
                return

    task = asyncio.create_task(reader())
    for p in range(1, 101):
        hub.publish(job, uuid4(), {"percent": float(p)}, p == 100)
        await asyncio.sleep(0)  # the fast reader keeps up; the slow one reads nothing
    await asyncio.wait_for(task, 2)
    assert fast_got == [float(p) for p in range(1, 101)]
    slow_got = [p for _, p in await take(slow)]
    assert len(slow_got) == 4 and slow_got[-1] == 100.0  # bounded, newest kept
    assert slow.dropped == 96


async def test_quiet_jobs_without_subscribers_are_forgotten_beyond_the_cap() -> None:
    hub = Hub(max_jobs=3)
    watched = uuid4()
    hub.subscribe(watched)
    for _ in range(10):
        progress(hub, uuid4(), 1)
    assert len(hub) <= 4
    progress(hub, watched, 5)
    assert hub.latest(watched) is not None
