"""A job stage's progress, throttled into ``JobProgress`` events.

Progress is throttled: an event when the percent moved by a step, and at least one per
``progress_interval_s`` while the job runs. The reporter is also where a running stage
learns it must stop: updates raise ``JobAbandoned`` on shutdown, ``JobCancelled`` once the
owner cancelled, ``StageTimedOut`` past the stage's budget.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable

from tapmask_runtime.errors import JobAbandoned, JobCancelled, StageTimedOut
from tapmask_schemas import JobProgress, JobStatus, Stage

log = logging.getLogger("tapmask.worker")


PublishProgress = Callable[[JobProgress], Awaitable[None]]


class ProgressReporter:
    """Thread-safe progress sink for a pipeline, publishing throttled ``JobProgress``.

    ``update()`` may be called from any thread as often as a pipeline likes. An event
    goes out when the percent moved by ``step`` or the stage changed (every stage a
    job passes through is reported, however short), and the latest state is re-sent
    every ``interval`` so a client sees the job is alive.
    """

    def __init__(
        self,
        job_id: uuid.UUID,
        publish: PublishProgress,
        *,
        interval_s: float,
        step_percent: float,
        abandon: threading.Event,
        deadline: tuple[float, str] | None = None,
        cancelled: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        """``deadline``: (``time.monotonic()`` value, reason); an update past it raises
        ``StageTimedOut`` with the reason. ``cancelled`` is asked at every tick (each
        ``interval_s``); once it says yes, updates raise ``JobCancelled``."""
        self._deadline = deadline
        self._cancelled_check = cancelled
        self._cancelled = threading.Event()
        self._job_id = job_id
        self._publish = publish
        self._interval = interval_s
        self._step = step_percent
        self._abandon = abandon
        self._lock = threading.Lock()
        # States not yet published: the last of each stage passed through, in order.
        self._pending: list[tuple[Stage, float, str]] = []
        self._latest: tuple[Stage, float, str] | None = None
        self._stage_started: tuple[Stage, float, float] | None = None  # stage, t0, percent0
        self._sent: tuple[Stage, float] | None = None
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None
        self._span_end: float | None = None
        self._stopping = False

    def update(self, stage: Stage, percent: float, message: str = "") -> None:
        """Record progress (percent of the whole job). Raises ``JobAbandoned`` on shutdown."""
        if self._abandon.is_set():
            raise JobAbandoned("the worker is shutting down")
        if self._cancelled.is_set():
            raise JobCancelled("the job was cancelled by its owner")
        if self._deadline is not None and time.monotonic() > self._deadline[0]:
            raise StageTimedOut(self._deadline[1])
        state = (stage, min(max(percent, 0.0), 100.0), message)
        with self._lock:
            if self._stage_started is None or self._stage_started[0] != stage:
                self._stage_started = (stage, time.monotonic(), state[1])
            if self._pending and self._pending[-1][0] == stage:
                self._pending[-1] = state
            else:
                self._pending.append(state)
            self._latest = state
            due = (
                len(self._pending) > 1
                or self._sent is None
                or self._sent[0] != stage
                or state[1] - self._sent[1] >= self._step
            )
        if due:
            self._loop.call_soon_threadsafe(self._wake.set)

    def _eta(self, stage: Stage, percent: float) -> float | None:
        with self._lock:
            started = self._stage_started
        span_end = self._span_end
        if started is None or started[0] != stage or span_end is None:
            return None
        done = percent - started[2]
        if done <= 0.5:
            return None
        elapsed = time.monotonic() - started[1]
        return round(max(0.0, elapsed / done * (span_end - percent)), 1)

    async def _run(self) -> None:
        await self._check_cancelled()
        checked = time.monotonic()
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            except TimeoutError:
                await self.flush(resend=True)
            else:
                self._wake.clear()
                await self.flush()
            if time.monotonic() - checked >= self._interval:
                await self._check_cancelled()
                checked = time.monotonic()

    async def _check_cancelled(self) -> None:
        if self._cancelled_check is None or self._cancelled.is_set():
            return
        try:
            if await self._cancelled_check():
                self._cancelled.set()
        except Exception:  # the store is unreachable for a moment: ask again next tick
            log.warning("could not check whether the job was cancelled", exc_info=True)

    async def flush(self, resend: bool = False) -> None:
        """Publish pending states; with ``resend``, the latest one even if already sent."""
        with self._lock:
            states, self._pending = self._pending, []
            if not states and resend and self._latest is not None:
                states = [self._latest]
        for stage, percent, message in states:
            event = JobProgress(
                job_id=self._job_id,
                status=JobStatus.PROCESSING,
                stage=stage,
                percent=round(percent, 2),
                message=message,
                eta_seconds=self._eta(stage, percent),
            )
            with self._lock:
                self._sent = (stage, percent)
            try:
                await self._publish(event)
            except Exception:  # progress is best effort: never fail a job over it
                log.warning("could not publish progress", exc_info=True)

    def start(self, span_end: float | None = None) -> None:
        self._span_end = span_end
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop the ticker and publish what is still pending."""
        # Not cancel(): a cancel inside flush() would drop states it already took.
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush()
