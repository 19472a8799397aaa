"""Per-job fan-out of progress to SSE subscribers, with a short memory for resumes.

Each job has a channel: a ring buffer of its most recent updates ordered by their
:class:`EventKey` (the SSE ``id``, derived from the event, so every replica and a
restarted notifier number the same events the same way), its latest state, and its
subscribers. Events from different topics may arrive out of order: an older one takes
its place in the ring, but a subscriber is only sent updates newer than the newest it
was sent (ids never go backwards for a client). A resuming client (``Last-Event-ID``) is
sent every update the ring holds after its id, in id order, and one final event last
(of two endings, the one live clients were sent), even when a skewed clock stamped some
progress after it: such progress stays in the ring, since a live client may have been
sent it (dropping it made a resumed stream lack an event the live one had delivered,
issue 9). A subscriber owns a bounded queue that drops its *oldest* entries when full:
a slow client skips intermediate progress but still gets the newest state and the final
event, and never slows the others down. Everything runs on one event loop, so no locks.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from tapmask_notifier.ids import EventKey


@dataclass(frozen=True)
class Update:
    """One state of a job as SSE clients see it."""

    key: EventKey
    data: dict[str, Any]
    final: bool

    @property
    def id(self) -> str:
        return self.key.sse_id


class Subscription:
    """One SSE client: a bounded queue of updates (oldest dropped when full)."""

    def __init__(self, job_id: UUID, maxsize: int) -> None:
        self.job_id = job_id
        self._queue: deque[Update] = deque(maxlen=maxsize)
        self._ready = asyncio.Event()
        self.dropped = 0
        self.after: EventKey | None = None
        """The newest key sent (or seen before a resume): older arrivals are not sent."""
        self.ended = False

    def push(self, update: Update) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(update)
        self._ready.set()
        self.after = update.key if self.after is None else max(self.after, update.key)
        self.ended = self.ended or update.final

    def offer(self, update: Update) -> None:
        """Push a new arrival unless it is older than what this client already has; the
        final event always (stamped a little early by a skewed clock, it still ends)."""
        if self.ended:
            return
        if update.final or self.after is None or update.key > self.after:
            self.push(update)

    async def next(self, wait_s: float) -> Update | None:
        """The next update, or None when ``wait_s`` passed without one."""
        if not self._queue:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), wait_s)
            except TimeoutError:
                return None
        return self._queue.popleft()


def _key(update: Update) -> EventKey:
    return update.key


@dataclass
class _Channel:
    ring: list[Update] = field(default_factory=list)
    """Sorted by key, at most ``ring_size``: the newest updates of the job."""
    subscribers: set[Subscription] = field(default_factory=set)
    seen: OrderedDict[UUID, None] = field(default_factory=OrderedDict)
    touched: float = field(default_factory=time.monotonic)
    end: Update | None = None
    """The job's final update, once known (it may sort before skewed progress)."""

    @property
    def latest(self) -> Update | None:
        """The job's current state: its end once it has one, else the newest update."""
        if self.end is not None:
            return self.end
        return self.ring[-1] if self.ring else None


class Hub:
    """All jobs' channels. ``publish`` from the Kafka consumer, ``subscribe`` from SSE."""

    def __init__(
        self,
        ring_size: int = 64,
        queue_size: int = 32,
        max_jobs: int = 10_000,
        idle_ttl_s: float = 3600.0,
    ) -> None:
        self._ring_size = ring_size
        self._queue_size = queue_size
        self._max_jobs = max_jobs
        self._ttl = idle_ttl_s
        self._channels: OrderedDict[UUID, _Channel] = OrderedDict()

    def __len__(self) -> int:
        return len(self._channels)

    def _channel(self, job_id: UUID) -> _Channel:
        channel = self._channels.get(job_id)
        if channel is None:
            channel = self._channels[job_id] = _Channel()
            self._evict()
        self._channels.move_to_end(job_id)
        channel.touched = time.monotonic()
        return channel

    def _evict(self) -> None:
        """Forget jobs nobody watches that went quiet, and the oldest beyond ``max_jobs``."""
        now = time.monotonic()
        for job_id in list(self._channels):  # least recently touched first
            channel = self._channels[job_id]
            over = len(self._channels) > self._max_jobs
            if not over and now - channel.touched <= self._ttl:
                break  # the rest are fresher
            if not channel.subscribers:
                del self._channels[job_id]

    def publish(
        self, job_id: UUID, event_id: UUID, key: EventKey, data: dict[str, Any], final: bool
    ) -> bool:
        """Record a job's state at ``key`` and fan it out to those who have not seen
        newer; False when dropped (a duplicate, stamped after the job's final event, or
        older than the whole ring)."""
        channel = self._channel(job_id)
        if event_id in channel.seen:
            return False
        channel.seen[event_id] = None
        while len(channel.seen) > 4 * self._ring_size:
            channel.seen.popitem(last=False)
        end = channel.end
        if end is not None and key > end.key:
            return False  # nothing arriving after a job's end follows it
        # A second ending stamped earlier (video-ready and the completed progress come on two
        # topics, in either order) becomes the end, on every replica; the first one stays
        # in the ring, since live clients were sent it and a resume must not lack it.
        at = bisect.bisect_left(channel.ring, key, key=_key)
        if at < len(channel.ring) and channel.ring[at].key == key:
            return False  # redelivered after ``seen`` forgot it
        update = Update(key, data, final)
        channel.ring.insert(at, update)
        if final and (end is None or key < end.key):
            channel.end = update
        if len(channel.ring) > self._ring_size:
            evicted = channel.ring.pop(0)
            if evicted is update and not final:
                return False
        for sub in channel.subscribers:
            sub.offer(update)
        return True

    def latest(self, job_id: UUID) -> Update | None:
        channel = self._channels.get(job_id)
        return channel.latest if channel else None

    def before(self, job_id: UUID, key: EventKey) -> Update | None:
        """The newest known update older than ``key`` (what the job looked like then)."""
        channel = self._channels.get(job_id)
        if channel is None:
            return None
        i = bisect.bisect_left(channel.ring, key, key=_key)
        return channel.ring[i - 1] if i else None

    def subscribe(self, job_id: UUID, last_event_id: str | None = None) -> Subscription:
        """A subscription whose queue already holds what the client must see first: the
        current state, or after ``last_event_id`` (an SSE id from any notifier) the
        updates it missed. The current state alone when the id is no event id, or older
        than the ring (some missed updates are forgotten)."""
        channel = self._channel(job_id)
        cursor = EventKey.after_sse_id(last_event_id)
        latest = channel.latest
        missed: list[Update] = []
        end = channel.end
        finals = [u for u in channel.ring if u.final]
        if end is not None and end not in finals:
            finals.append(end)
        if any(u.id == (last_event_id or "").strip() for u in finals):
            pass  # it saw an end: nothing follows
        elif latest is not None and cursor is not None:
            # After the id: all the ring holds (all of it when the id is older than the
            # ring: what is still known), in id order, then one ending: the last-stamped
            # after the id. Every ending says the job is over, so a client stops at the
            # first it reads: sending an earlier-stamped one first cut the resumed stream
            # short of the ending live clients had been sent (issue 9 item 10, 1 in 4 e2e
            # runs). The last-stamped is the one live clients got: a later arrival stays
            # only when stamped earlier (publish), so the first to arrive sorts last.
            missed = [u for u in channel.ring if u.key > cursor and not u.final]
            ends = sorted((u for u in finals if u.key > cursor), key=_key)[-1:]
            if not ends and end is not None:
                ends = [end]  # stamped before the last progress it saw, not seen itself
            missed += ends
        # Room for all of it: a resume is never cut short by the live queue's bound.
        sub = Subscription(job_id, max(self._queue_size, 2, len(missed)))
        if latest is None:
            sub.after = cursor  # not heard of yet (still replaying?): skip what was seen
        elif cursor is None:
            sub.push(latest)
        else:
            sub.after = cursor
            for update in missed:
                sub.push(update)
        channel.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        channel = self._channels.get(sub.job_id)
        if channel is not None:
            channel.subscribers.discard(sub)

    def subscriber_count(self) -> int:
        return sum(len(c.subscribers) for c in self._channels.values())
