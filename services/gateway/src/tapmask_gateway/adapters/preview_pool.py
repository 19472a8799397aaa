"""The mask preview's own worker processes, and the admission in front of them.

Why processes of their own: the segmenter (SAM on onnxruntime, ~1.3 CPU-s a click) ran in
the gateway's thread pool behind one lock. A flood of previews then held every pool thread
waiting for that lock, and everything else that needs a thread waited behind them: the S3
check of ``/api/health`` timed out (503 after 4 s), presign took 1.9 s, and the gateway's RSS
grew from 869 to 1,462 MB and stayed there (SAM's arenas and features live as long as the
process; issue 18). Here each worker is a process (``spawn``ed: the gateway runs threads, a
fork would copy their locks) that:

- runs at a lower CPU priority (``nice``), so on a busy machine the gateway's own requests
  win the cores: they take a few ms of CPU, a preview a second;
- decodes the clicked frame itself (``tapmask_media.stills.read_frame``: the decoder's pixel
  cap and a size check on each frame) under an address-space limit, like the probe's child:
  a hostile file costs that worker, not the gateway; it starts with none of the gateway's
  environment (no database URL, token secret or S3 keys: ``child_environment``);
- keeps its own features cache (``ClickSegmenter``): a click goes to the worker that last
  served its upload when that one is free, so the second click on a frame skips the encoder;
- gives freed memory back after each run (``malloc_trim``, two glibc arenas at most), so its
  size returns to its level after a flood.

Admission and order are ``domain.preview_queue.PreviewQueue``'s (per-client cap, bounded
queue, latest click wins, least recently served first); this module waits on it with
asyncio futures, so a waiting click holds no thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import shlex
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tapmask_gateway.adapters.preview import (
    BadUpload,
    ClickSegmenter,
    PreviewMask,
    PreviewUnavailable,
)
from tapmask_gateway.domain.preview_queue import (
    DROPPED,
    Busy,
    Outcome,
    PreviewLimits,
    PreviewQueue,
    Ticket,
)
from tapmask_gateway.settings import PreviewSettings
from tapmask_media.errors import MediaError
from tapmask_media.probe import ProbeLimits, child_environment

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class FrameJob:
    """A frame of a local upload, as the worker decodes it (at SAM's size)."""

    key: str
    path: str
    index: int
    rotation: int
    timestamps: Sequence[int] | None
    limits: dict[str, Any]  # ProbeLimits' fields


@dataclass(frozen=True)
class MaskJob:
    frame: FrameJob
    positives: Sequence[tuple[float, float]]  # displayed pixels
    negatives: Sequence[tuple[float, float]]
    display: tuple[int, int]  # the picture as players show it (clicks are in it)
    served: tuple[int, int]  # the PNG's size (the served frame's)


# --- in the worker process --------------------------------------------------------------------
_SEGMENTER: ClickSegmenter | None = None
_M_ARENA_MAX = -8  # glibc's mallopt parameter


def _libc() -> Any:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return None


def _worker_init(settings_json: str, nice: int, memory_bytes: int) -> None:
    global _SEGMENTER
    import resource

    if nice:
        os.nice(nice)
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_ARENA_MAX, 2)
    _SEGMENTER = ClickSegmenter(PreviewSettings.model_validate_json(settings_json))


def _trim() -> None:
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def _decode(segmenter: ClickSegmenter, job: FrameJob, ahead: int = 0) -> Any:
    from tapmask_media.stills import read_frame

    try:
        return read_frame(
            Path(job.path),
            job.index + ahead,
            job.rotation,
            job.timestamps,
            segmenter.side,
            ProbeLimits(**job.limits),
        )
    except MediaError as exc:
        raise BadUpload(str(exc).replace(f"{job.path}: ", "")) from None
    except MemoryError:
        raise BadUpload(f"frame {job.index} needs more memory than a preview may take") from None


def _worker_mask(job: MaskJob) -> PreviewMask:
    """The mask of ``job``'s clicks (runs in a worker)."""
    from tapmask_processing.tracking.sam_prompting import MOTION_LOOKAHEAD

    assert _SEGMENTER is not None
    segmenter = _SEGMENTER
    try:
        rgb = _decode(segmenter, job.frame)
        # A few frames on, to see what moves with the clicked part (as the tracker does:
        # ``sam_prompting.click_to_object``); none past the video's end.
        try:
            later = _decode(segmenter, job.frame, MOTION_LOOKAHEAD)
        except BadUpload:
            later = None
        w, h = job.display
        sx, sy = rgb.shape[1] / w, rgb.shape[0] / h
        return segmenter.mask(
            job.frame.key,
            job.frame.index,
            rgb,
            [(x * sx, y * sy) for x, y in job.positives],
            [(x * sx, y * sy) for x, y in job.negatives],
            size=job.served,
            later=later,
        )
    finally:
        _trim()


def _worker_prepare(job: FrameJob) -> None:
    """The features of a shown frame, before the first click (runs in a worker)."""
    assert _SEGMENTER is not None
    segmenter = _SEGMENTER
    try:
        segmenter.shown(job.key, job.index)
        segmenter.prepare(job.key, job.index, lambda: _decode(segmenter, job))
    finally:
        _trim()


def _worker_ping() -> int:
    return os.getpid()


# --- in the gateway ---------------------------------------------------------------------------
def _clean_python(folder: Path) -> str:
    """A launcher of this Python with only ``child_environment()``: multiprocessing's spawn
    hands the child the parent's whole environment, which holds the gateway's secrets."""
    env = " ".join(shlex.quote(f"{k}={v}") for k, v in sorted(child_environment().items()))
    script = folder / "tapmask-preview-python"
    python = shlex.quote(sys.executable)
    script.write_text(f'#!/bin/sh\nexec /usr/bin/env -i {env} {python} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


class PreviewPool:
    """``settings.workers`` single-process executors, each with its own segmenter, behind a
    ``PreviewQueue``. Use from the event loop."""

    def __init__(self, settings: PreviewSettings, probe_limits: dict[str, Any]) -> None:
        self._settings = settings
        #: ``ProbeLimits``' fields (``VideoLimits.probe_fields``): the caps of every decode.
        self.limits = dict(probe_limits)
        ProbeLimits(**self.limits)  # checked here, not in a worker
        self.queue = PreviewQueue(
            PreviewLimits(
                workers=settings.workers,
                per_client=settings.per_client,
                queue=settings.queue,
                max_wait_s=settings.max_wait_s,
                rate_per_minute=settings.per_client_per_minute,
                burst=settings.per_client_burst,
            )
        )
        self._ctx = multiprocessing.get_context("spawn")
        self._dir = Path(tempfile.mkdtemp(prefix="tapmask-preview-"))
        self._ctx.set_executable(_clean_python(self._dir))
        self._executors: list[ProcessPoolExecutor | None] = [None] * settings.workers
        self._waiters: dict[Ticket, asyncio.Future[int]] = {}
        self._shown: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def _executor(self, worker: int) -> ProcessPoolExecutor:
        executor = self._executors[worker]
        if executor is None:
            executor = ProcessPoolExecutor(
                max_workers=1,
                mp_context=self._ctx,
                initializer=_worker_init,
                initargs=(
                    self._settings.model_dump_json(),
                    self._settings.worker_nice,
                    self._settings.worker_memory_bytes,
                ),
            )
            self._executors[worker] = executor
        return executor

    def _replace(self, worker: int) -> None:
        executor = self._executors[worker]
        self._executors[worker] = None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    async def start(self) -> None:
        """Start the workers now (a process start and imports, ~1 s each), not on the
        first click."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(
                loop.run_in_executor(self._executor(i), _worker_ping)
                for i in range(self._settings.workers)
            )
        )

    def worker_pids(self) -> list[int]:
        pids: list[int] = []
        for executor in self._executors:
            processes = getattr(executor, "_processes", None) or {}
            pids += list(processes)
        return pids

    def close(self) -> None:
        for i in range(len(self._executors)):
            self._replace(i)
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(OSError):
            for child in self._dir.iterdir():
                child.unlink()
            self._dir.rmdir()

    # --- admission ------------------------------------------------------------------------
    def _drop(self, tickets: list[Ticket]) -> None:
        for ticket in tickets:
            waiter = self._waiters.pop(ticket, None)
            if waiter is not None and not waiter.done():
                status, detail = DROPPED[ticket.outcome]
                retry = 0 if status == 409 else max(1, round(self.queue.run_s))
                waiter.set_exception(Busy(status, detail, retry))

    def _grant(self) -> None:
        for ticket in self.queue.grant():
            waiter = self._waiters.pop(ticket, None)
            assert ticket.worker is not None
            if waiter is not None and not waiter.done():
                waiter.set_result(ticket.worker)
            else:  # its waiter is gone: free the worker again
                self.queue.finish(ticket, time.monotonic())
                self._grant()
                return

    def _finish(self, ticket: Ticket, seconds: float | None) -> None:
        self.queue.finish(ticket, time.monotonic(), seconds)
        self._grant()

    async def _turn(self, client: str, upload: str) -> Ticket:
        """Wait for a worker (at most ``max_wait_s`` behind other clicks); ``Busy`` when
        refused or dropped."""
        ticket, dropped = self.queue.admit(client, upload, time.monotonic())
        self._drop(dropped)
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters[ticket] = waiter
        self._grant()
        try:
            while True:
                done, _ = await asyncio.wait({waiter}, timeout=self._settings.max_wait_s)
                # Behind background work only (the features of a frame someone looks at,
                # often this click's own frame: one encoder run, never queued): wait on.
                if done or not self.queue.only_background_running():
                    break
        except asyncio.CancelledError:
            # The request ended: give the worker back if it was granted meanwhile.
            self._waiters.pop(ticket, None)
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._finish(ticket, None)
            else:
                self.queue.withdraw(ticket, Outcome.DONE)
            raise
        self._waiters.pop(ticket, None)
        if waiter.done():
            waiter.result()  # raises Busy when the ticket was dropped
            return ticket
        status, detail = DROPPED[self.queue.withdraw(ticket)]
        raise Busy(status, detail, max(1, round(self.queue.run_s)))

    async def _run(self, ticket: Ticket, fn: Callable[[Any], T], job: Any) -> T:
        loop = asyncio.get_running_loop()
        assert ticket.worker is not None
        worker = ticket.worker
        started = time.monotonic()
        try:
            future: Future[T] = self._executor(worker).submit(fn, job)
        except BrokenProcessPool:
            self._replace(worker)
            future = self._executor(worker).submit(fn, job)

        def done(_: Future[T]) -> None:
            # The worker is free when its run ends, also when the request that asked for it
            # was cancelled meanwhile.
            with contextlib.suppress(RuntimeError):  # the loop closed: the gateway stopped
                loop.call_soon_threadsafe(self._finish, ticket, time.monotonic() - started)

        future.add_done_callback(done)
        try:
            return await asyncio.wrap_future(future)
        except BrokenProcessPool as exc:
            self._replace(worker)
            log.error("a mask preview worker stopped: %r", exc)
            raise PreviewUnavailable(
                "the mask preview's worker stopped while working on this click (it may have "
                "needed more memory than allowed); click again"
            ) from exc

    def charge(self, client: str) -> None:
        """``PreviewQueue.charge``: a click refused at once, before it costs anything."""
        self.queue.charge(client, time.monotonic())

    async def mask(self, client: str, job: MaskJob) -> PreviewMask:
        """The mask of ``job`` when ``client``'s turn comes; ``Busy`` when refused.

        When other clicks run or wait (a flood), the answer comes within ``answer_within_s``
        of the request or it is refused (503): the run goes on in its worker and keeps the
        frame's features, so the next click there pays the decoder only. An uncontended
        click runs to its end however slow the machine is: it delays no one."""
        began = time.monotonic()
        contended = self.queue.contended()
        ticket = await self._turn(client, job.frame.key)
        run = asyncio.ensure_future(self._run(ticket, _worker_mask, job))
        if not contended:
            return await run
        left = self._settings.answer_within_s - (time.monotonic() - began)
        try:
            return await asyncio.wait_for(asyncio.shield(run), max(0.0, left))
        except TimeoutError:
            run.add_done_callback(lambda done: done.cancelled() or done.exception())
            raise Busy(
                503,
                "the mask preview is busy: this click's outline was not ready within "
                f"{self._settings.answer_within_s:g} s; click again (the frame's features are "
                "kept, so the next click there is quicker)",
                1,
            ) from None

    def shown(self, job: FrameJob, delay_s: float = 0.3) -> None:
        """Frame ``job.index`` of an upload is on someone's screen: compute its features if
        it is still the one shown after ``delay_s`` (a person scrubbing costs nothing) and
        a worker is idle (never ahead of a click)."""
        self._shown[job.key] = job.index
        while len(self._shown) > 1000:
            self._shown.pop(next(iter(self._shown)))

        async def later() -> None:
            await asyncio.sleep(delay_s)
            if self._shown.get(job.key) != job.index:
                return
            ticket = self.queue.background(job.key)
            if ticket is None:
                return
            with contextlib.suppress(Exception):  # said to whoever clicks
                await self._run(ticket, _worker_prepare, job)

        task = asyncio.create_task(later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
