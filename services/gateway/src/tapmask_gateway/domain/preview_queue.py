"""Who gets the mask preview's workers, and who is refused (pure: the clock is passed in).

A preview costs about 1.3 CPU-seconds (SAM's image encoder, then 5-17 decoder calls); the
gateway has a worker or two for it. Unbounded, 20 clients with 3 clicks in flight each
queued 60 runs behind a lock inside the gateway's thread pool: another person's preview
took 92 s, and ``/api/health``'s S3 check, waiting for a thread, timed out (issue 18). So
the work is admitted here, before it costs anything:

- a click from a client that already has one **waiting** replaces it: the waiting one is
  stale (the person clicked again) and is dropped, not run (``superseded``);
- at most ``per_client`` previews of one client in flight (running + waiting), and at most
  ``rate_per_minute`` a minute (bursts of ``burst``): beyond either, 429;
- at most ``queue`` waiting overall: beyond it, 503 - unless the newcomer's client was
  served less recently than the client of a waiting click, which then gives up its place
  (``displaced``, 503): a flood of many clients cannot keep one person out;
- a free worker takes the waiting click whose client was served least recently (never
  served first), so one busy client does not go ahead of someone clicking for the first
  time; a click that waited ``max_wait_s`` is refused (``expired``, 503), so whoever
  clicks hears within about ``max_wait_s`` plus one run.

Every refusal says why in plain words and when to retry (``retry_after_s``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from tapmask_gateway.domain.quotas import RateLimiter


class Outcome(StrEnum):
    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    SUPERSEDED = "superseded"
    DISPLACED = "displaced"
    EXPIRED = "expired"


@dataclass(frozen=True)
class PreviewLimits:
    workers: int = 1
    per_client: int = 2
    queue: int = 4
    max_wait_s: float = 1.0
    rate_per_minute: int = 60
    burst: int = 20


@dataclass(eq=False)
class Ticket:
    """One click's claim on a worker."""

    client: str
    upload: str
    enqueued: float
    outcome: Outcome = Outcome.WAITING
    worker: int | None = None
    #: Low priority background work (the features of a shown frame): never queued.
    background: bool = False


class Busy(Exception):
    """A refusal: ``status`` 429 (this client's share), 503 (the server's) or 409 (replaced
    by the client's newer click), in plain words, with when to retry."""

    def __init__(self, status: int, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after_s = retry_after_s


#: What a dropped ticket's waiter is told.
DROPPED: dict[Outcome, tuple[int, str]] = {
    Outcome.SUPERSEDED: (409, "a newer click of yours replaced this one before it ran"),
    Outcome.DISPLACED: (
        503,
        "the mask preview is busy: your click gave its place to someone who had waited "
        "longer; click again",
    ),
    Outcome.EXPIRED: (
        503,
        "the mask preview is busy: your click waited too long to start; click again",
    ),
}


@dataclass
class PreviewQueue:
    """The admission and order of preview work (see the module's docstring)."""

    limits: PreviewLimits
    #: Seconds a run takes, as measured (a moving average): the basis of ``Retry-After``.
    run_s: float = 1.3
    _waiting: list[Ticket] = field(default_factory=list)
    _running: list[Ticket | None] = field(default_factory=list)
    _served: dict[str, float] = field(default_factory=dict)
    _rate: RateLimiter = field(default_factory=lambda: RateLimiter(max_clients=10_000))
    #: Which worker last ran each upload (its features are cached there).
    _worker_of: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._running = [None] * self.limits.workers

    # --- what is where ---------------------------------------------------------------------
    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def running(self) -> int:
        return sum(t is not None for t in self._running)

    def contended(self) -> bool:
        """Another click runs or waits (background work does not count)."""
        return bool(self._waiting) or any(t is not None and not t.background for t in self._running)

    def only_background_running(self) -> bool:
        """Every busy worker runs background work (a shown frame's features): a click
        waiting behind it waits for no one's click, and is not refused for that."""
        return all(t is None or t.background for t in self._running)

    def _in_flight(self, client: str) -> int:
        return sum(t.client == client for t in self._waiting) + sum(
            t is not None and t.client == client for t in self._running
        )

    def _retry_after(self, ahead: int) -> int:
        return max(1, math.ceil(self.run_s * (ahead + 1) / self.limits.workers))

    # --- admission -------------------------------------------------------------------------
    def charge(self, client: str, now: float) -> None:
        """Count a click against ``client``'s rate and refuse it at once (``Busy``) when it
        would be refused anyway: over the rate (429), or the queue full with no place this
        client could take (503). Called before anything that costs (the upload's owner
        looked up in the database, its local copy): a flood is refused for a few
        microseconds a click."""
        limits = self.limits
        wait = self._rate.hit(client, limits.rate_per_minute, limits.burst, now)
        if wait:
            raise Busy(
                429,
                f"too many mask previews: the limit is {limits.rate_per_minute} a minute; "
                f"retry in {wait} s",
                wait,
            )
        if any(t.client == client for t in self._waiting):
            return  # it will replace its own waiting click
        if self._in_flight(client) >= limits.per_client:
            raise Busy(
                429,
                f"you have {limits.per_client} mask previews running already; wait for "
                "their answer",
                self._retry_after(0),
            )
        if len(self._waiting) >= limits.queue and self._victim(client) is None:
            raise self._full()

    def _victim(self, client: str) -> Ticket | None:
        """The waiting click a newcomer from ``client`` may take the place of: the one whose
        client was served most recently, when more recently than ``client``."""
        if not self._waiting:
            return None
        victim = max(
            self._waiting, key=lambda t: (self._served.get(t.client, -math.inf), t.enqueued)
        )
        if self._served.get(victim.client, -math.inf) > self._served.get(client, -math.inf):
            return victim
        return None

    def _full(self) -> Busy:
        retry = self._retry_after(len(self._waiting))
        return Busy(
            503,
            f"the mask preview is busy: {len(self._waiting)} clicks are waiting; "
            f"retry in {retry} s",
            retry,
        )

    def admit(self, client: str, upload: str, now: float) -> tuple[Ticket, list[Ticket]]:
        """A ticket for this click (waiting; ``grant`` starts it) and the tickets it dropped
        (``superseded`` or ``displaced``: tell their waiters); ``Busy`` when refused. The
        click was ``charge``d before."""
        dropped: list[Ticket] = []
        stale = [t for t in self._waiting if t.client == client]
        limits = self.limits
        ticket = Ticket(client, upload, now)
        if stale:
            # The person clicked again: the click still waiting is stale; the new one takes
            # its place in the queue.
            for old in stale:
                old.outcome = Outcome.SUPERSEDED
                self._waiting.remove(old)
            dropped += stale
        elif self._in_flight(client) >= limits.per_client:
            raise Busy(
                429,
                f"you have {limits.per_client} mask previews running already; wait for "
                "their answer",
                self._retry_after(0),
            )
        elif len(self._waiting) >= limits.queue:
            victim = self._victim(client)
            if victim is None:
                raise self._full()
            victim.outcome = Outcome.DISPLACED
            self._waiting.remove(victim)
            dropped.append(victim)
        self._waiting.append(ticket)
        return ticket, dropped

    def background(self, upload: str) -> Ticket | None:
        """A worker for background work on ``upload`` (its shown frame's features), only
        when one is idle and no click waits; else ``None`` (it is skipped, not queued)."""
        if self._waiting:
            return None
        worker = self._free_worker(upload)
        if worker is None:
            return None
        ticket = Ticket("", upload, 0.0, Outcome.RUNNING, worker, background=True)
        self._running[worker] = ticket
        self._worker_of[upload] = worker
        return ticket

    # --- order -----------------------------------------------------------------------------
    def _free_worker(self, upload: str) -> int | None:
        free = [i for i, t in enumerate(self._running) if t is None]
        if not free:
            return None
        preferred = self._worker_of.get(upload)
        return preferred if preferred in free else free[0]

    def grant(self) -> list[Ticket]:
        """Start waiting tickets on free workers (least recently served client first);
        the started ones, each with its ``worker``."""
        started: list[Ticket] = []
        while self._waiting and None in self._running:
            ticket = min(
                self._waiting, key=lambda t: (self._served.get(t.client, -math.inf), t.enqueued)
            )
            worker = self._free_worker(ticket.upload)
            assert worker is not None
            self._waiting.remove(ticket)
            ticket.outcome, ticket.worker = Outcome.RUNNING, worker
            self._running[worker] = ticket
            self._worker_of[ticket.upload] = worker
            if len(self._worker_of) > 10_000:
                self._worker_of.pop(next(iter(self._worker_of)))
            started.append(ticket)
        return started

    def withdraw(self, ticket: Ticket, outcome: Outcome = Outcome.EXPIRED) -> Outcome:
        """The ticket leaves the queue unstarted: it waited ``max_wait_s`` (``EXPIRED``), or
        its request ended; the outcome it ends with."""
        if ticket in self._waiting:
            self._waiting.remove(ticket)
            ticket.outcome = outcome
        return ticket.outcome

    def finish(self, ticket: Ticket, now: float, seconds: float | None = None) -> None:
        """The run of ``ticket`` ended (``seconds`` long when it ran): its worker is free."""
        if ticket.worker is not None and self._running[ticket.worker] is ticket:
            self._running[ticket.worker] = None
        ticket.outcome = Outcome.DONE
        if not ticket.background:
            self._served.pop(ticket.client, None)
            self._served[ticket.client] = now  # most recent last: the first is the oldest
            if len(self._served) > 10_000:
                self._served.pop(next(iter(self._served)))
        if seconds is not None and not ticket.background:
            self.run_s = 0.8 * self.run_s + 0.2 * seconds
