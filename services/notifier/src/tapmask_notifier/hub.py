"""Per-job fan-out of progress to SSE subscribers, with a short memory for resumes.

Each job has a channel: a ring buffer of its recent updates (numbered 1, 2, 3... per
job, the SSE ``id``), its latest state, and its subscribers. A subscriber owns a
bounded queue that drops its *oldest* entries when full: a slow client skips
intermediate progress but still gets the newest state and the final event, and never
slows the others down. Everything runs on one event loop, so no locks.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class Update:
    """One state of a job as SSE clients see it."""

    seq: int
    data: dict[str, Any]
    final: bool


class Subscription:
    """One SSE client: a bounded queue of updates (oldest dropped when full)."""

    def __init__(self, job_id: UUID, maxsize: int) -> None:
        self.job_id = job_id
        self._queue: deque[Update] = deque(maxlen=maxsize)
        self._ready = asyncio.Event()
        self.dropped = 0

    def push(self, update: Update) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(update)
        self._ready.set()

    async def next(self, wait_s: float) -> Update | None:
        """The next update, or None when ``wait_s`` passed without one."""
        if not self._queue:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), wait_s)
            except TimeoutError:
                return None
        return self._queue.popleft()


@dataclass
class _Channel:
    ring: deque[Update]
    seq: int = 0
    latest: Update | None = None
    subscribers: set[Subscription] = field(default_factory=set)
    seen: OrderedDict[UUID, None] = field(default_factory=OrderedDict)
    touched: float = field(default_factory=time.monotonic)


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
            channel = self._channels[job_id] = _Channel(ring=deque(maxlen=self._ring_size))
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

    def publish(self, job_id: UUID, event_id: UUID, data: dict[str, Any], final: bool) -> bool:
        """Record a job's new state and fan it out; False when dropped (duplicate, or
        anything after the job's final event)."""
        channel = self._channel(job_id)
        if event_id in channel.seen:
            return False
        channel.seen[event_id] = None
        while len(channel.seen) > 4 * self._ring_size:
            channel.seen.popitem(last=False)
        if channel.latest is not None and channel.latest.final:
            return False
        channel.seq += 1
        update = Update(channel.seq, data, final)
        channel.ring.append(update)
        channel.latest = update
        for sub in channel.subscribers:
            sub.push(update)
        return True

    def latest(self, job_id: UUID) -> Update | None:
        channel = self._channels.get(job_id)
        return channel.latest if channel else None

    def subscribe(self, job_id: UUID, last_event_id: int | None = None) -> Subscription:
        """A subscription whose queue already holds what the client must see first: the
        current state, or after ``last_event_id`` the updates it missed (the current
        state alone when they fell out of the ring or the id is not ours)."""
        channel = self._channel(job_id)
        sub = Subscription(job_id, max(self._queue_size, 2))
        latest = channel.latest
        if latest is not None:
            if last_event_id is None or last_event_id > latest.seq:
                sub.push(latest)
            elif last_event_id < latest.seq:
                missed = [u for u in channel.ring if u.seq > last_event_id]
                if missed and missed[0].seq == last_event_id + 1:
                    for update in missed:
                        sub.push(update)
                else:
                    sub.push(latest)
        channel.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        channel = self._channels.get(sub.job_id)
        if channel is not None:
            channel.subscribers.discard(sub)

    def subscriber_count(self) -> int:
        return sum(len(c.subscribers) for c in self._channels.values())
