"""The notifier's hub: fan-out, resume from Last-Event-ID, bounded slow subscribers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from tapmask_notifier.hub import Hub, Subscription
from tapmask_notifier.ids import EventKey

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def progress(hub: Hub, job: UUID, percent: float, final: bool = False, at_s: float = 0) -> str:
    """Publish a state stamped ``at_s`` after T0 (default: its percent); its SSE id."""
    key = EventKey.of(T0 + timedelta(seconds=at_s or percent), uuid4())
    hub.publish(job, uuid4(), key, {"status": "processing", "percent": percent}, final)
    return key.sse_id


async def take(sub: Subscription) -> list[float]:
    """The percents queued for a subscriber, checking ids only ever increase (but for a
    final event stamped by a clock behind the others')."""
    got: list[float] = []
    last = -1
    while (update := await sub.next(0.01)) is not None:
        assert int(update.id) > last or update.final
        last = int(update.id)
        got.append(update.data["percent"])
    return got


async def test_every_subscriber_of_a_job_gets_every_update() -> None:
    hub = Hub()
    job, other = uuid4(), uuid4()
    a, b = hub.subscribe(job), hub.subscribe(job)
    c = hub.subscribe(other)
    for p in (10, 20, 30):
        progress(hub, job, p)
    assert await take(a) == [10, 20, 30]
    assert await take(b) == [10, 20, 30]
    assert await take(c) == []


async def test_late_subscriber_starts_from_the_current_state() -> None:
    hub = Hub()
    job = uuid4()
    ids = [progress(hub, job, p) for p in (10, 20, 30)]
    late = hub.subscribe(job)
    update = await late.next(0.01)
    assert update is not None and (update.id, update.data["percent"]) == (ids[-1], 30)


async def test_resume_after_last_event_id_skips_what_was_seen() -> None:
    hub = Hub()
    job = uuid4()
    ids = [progress(hub, job, p) for p in (10, 20, 30, 40)]
    assert await take(hub.subscribe(job, last_event_id=ids[1])) == [30, 40]
    assert await take(hub.subscribe(job, last_event_id=ids[3])) == []  # up to date
    # Not an id of an event (an old per-process counter, garbage): the current state.
    for foreign in ("2", "99", "abc", "-5", "1e30", ""):
        assert await take(hub.subscribe(job, last_event_id=foreign)) == [40], foreign


async def test_resume_older_than_the_ring_gets_all_that_is_still_known() -> None:
    hub = Hub(ring_size=3)
    job = uuid4()
    ids = [progress(hub, job, p) for p in range(1, 11)]
    # 3..7 are forgotten; what is known goes out, up to the current state.
    assert await take(hub.subscribe(job, last_event_id=ids[1])) == [8, 9, 10]
    # Right at the edge of what the ring forgot, nothing is missing.
    assert await take(hub.subscribe(job, last_event_id=ids[6])) == [8, 9, 10]


async def test_duplicate_events_and_events_after_the_final_one_are_dropped() -> None:
    hub = Hub()
    job = uuid4()
    sub = hub.subscribe(job)
    event_id = uuid4()
    key = EventKey.of(T0, event_id)
    assert hub.publish(job, event_id, key, {"percent": 50}, False)
    assert not hub.publish(job, event_id, key, {"percent": 50}, False)
    done = EventKey.of(T0 + timedelta(seconds=1), uuid4())
    assert hub.publish(job, uuid4(), done, {"percent": 100}, True)
    later = T0 + timedelta(seconds=2)
    assert not hub.publish(job, uuid4(), EventKey.of(later, uuid4()), {"percent": 100}, True)
    assert not hub.publish(job, uuid4(), EventKey.of(later, uuid4()), {"percent": 60}, False)
    assert await take(sub) == [50, 100]
    latest = hub.latest(job)
    assert latest is not None and latest.final and latest.key == done


async def test_an_event_redelivered_long_after_is_still_a_duplicate() -> None:
    hub = Hub(ring_size=2)  # remembers 8 event ids
    job = uuid4()
    event_id = uuid4()
    key = EventKey.of(T0 + timedelta(seconds=100), event_id)
    assert hub.publish(job, event_id, key, {"percent": 100}, False)
    ids = [progress(hub, job, p) for p in range(1, 11)]  # older, late: event_id forgotten
    assert await take(hub.subscribe(job, last_event_id=ids[-2])) == [10, 100]
    assert not hub.publish(job, event_id, key, {"percent": 100}, False)
    assert await take(hub.subscribe(job, last_event_id=ids[-2])) == [10, 100]


async def test_an_older_event_arriving_late_is_kept_for_resumes_but_not_sent_again() -> None:
    hub = Hub()
    job = uuid4()
    sub = hub.subscribe(job)
    first = progress(hub, job, 10)
    progress(hub, job, 30)  # another topic's event got here first
    progress(hub, job, 20)
    assert await take(sub) == [10, 30]  # ids never go backwards for a client
    assert await take(hub.subscribe(job, last_event_id=first)) == [20, 30]
    assert await take(hub.subscribe(job)) == [30]


async def test_final_event_stamped_before_the_last_progress_still_ends_the_stream() -> None:
    # The renderer's clock a little behind the tracker's: "completed" sorts before 99 %.
    hub = Hub()
    job = uuid4()
    sub = hub.subscribe(job)
    first = progress(hub, job, 50, at_s=1)
    skewed = progress(hub, job, 99, at_s=3)
    done = progress(hub, job, 100, final=True, at_s=2)
    assert await take(sub) == [50, 99, 100]
    latest = hub.latest(job)
    assert latest is not None and latest.final and latest.id == done
    # A client that saw 99 % but not the end gets the end; one that saw the end, nothing.
    assert await take(hub.subscribe(job, last_event_id=skewed)) == [100]
    assert await take(hub.subscribe(job, last_event_id=done)) == []
    # One that resumes from before gets all the live stream got, the end last (the 99 %
    # stamped after the end was dropped from the ring, issue 9).
    assert await take(hub.subscribe(job, last_event_id=first)) == [99, 100]


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
        progress(hub, job, float(p), final=p == 100)
        await asyncio.sleep(0)  # the fast reader keeps up; the slow one reads nothing
    await asyncio.wait_for(task, 2)
    assert fast_got == [float(p) for p in range(1, 101)]
    slow_got = await take(slow)
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


async def test_ring_is_bounded_whatever_the_arrival_order() -> None:
    hub = Hub(ring_size=5)
    job = uuid4()
    ids = {p: progress(hub, job, p) for p in [*range(50, 100), *range(1, 50)]}  # old ones last
    assert await take(hub.subscribe(job, last_event_id=ids[94])) == [95, 96, 97, 98, 99]
    # 94 was forgotten: the rest that is known.
    assert await take(hub.subscribe(job, last_event_id=ids[93])) == [95, 96, 97, 98, 99]


async def test_of_two_endings_a_resume_gets_the_one_live_clients_got_too() -> None:
    # video-ready and the completed progress come on two topics: here the later-stamped
    # one arrives first and ends the live stream; the earlier one, arriving next, is the
    # job's end on every replica. A client stops at the first "completed" it reads, so a
    # resume that sent the earlier ending first lacked the one the live stream had
    # delivered (issue 9 item 10: 1 of 4 e2e runs).
    hub = Hub()
    job = uuid4()

    def ending(at_s: float) -> str:
        key = EventKey.of(T0 + timedelta(seconds=at_s), uuid4())
        hub.publish(job, uuid4(), key, {"status": "completed", "percent": 100.0}, True)
        return key.sse_id

    async def read_until_completed(sub: Subscription) -> list[str]:
        ids = []
        while (update := await sub.next(0.01)) is not None:
            ids.append(update.id)
            if update.data["status"] == "completed":
                break
        return ids

    live = hub.subscribe(job)
    first = progress(hub, job, 50, at_s=1)
    between = progress(hub, job, 90, at_s=1.5)
    progress_completed = ending(at_s=3)
    ending(at_s=2)  # video-ready, stamped earlier, arriving later
    assert await read_until_completed(live) == [first, between, progress_completed]
    resumed = hub.subscribe(job, last_event_id=first)
    assert await read_until_completed(resumed) == [between, progress_completed]
    assert await resumed.next(0.01) is None  # one ending, nothing after it
    latest = hub.latest(job)
    assert latest is not None and latest.final and latest.data["status"] == "completed"
