"""A cancelled job (the gateway's marker in object storage): the worker never starts it,
or stops it at its next progress tick, and publishes nothing more for it."""

from __future__ import annotations

import asyncio
from typing import Any

from test_tracker_worker import FakeTrack, run_jobs, service

from tapmask_runtime.cancels import cancel_key
from tapmask_runtime.settings import WorkerSettings
from tapmask_schemas.topics import DEAD_LETTER, JOB_FAILED, MASKS_READY

TICK = WorkerSettings(backoff_initial_s=0, progress_interval_s=0.05, max_attempts=3)


async def test_a_job_cancelled_while_queued_never_starts(
    store: Any, observe_topics: Any, make_job: Any
) -> None:
    job = make_job()
    store.objects[job.upload_key] = (b"video-bytes", {})
    store.small[cancel_key(job.job_id)] = b"{}"
    track = FakeTrack()
    svc = service(store, track, TICK)
    seen = observe_topics(svc.broker)

    await run_jobs(svc, job)

    assert track.calls == 0
    assert not seen[MASKS_READY] and not seen[JOB_FAILED] and not seen[DEAD_LETTER]
    assert svc.metrics.value("cancelled") == 1 and svc.metrics.value("committed") == 1


async def test_a_running_job_stops_within_a_tick_of_its_cancel(
    store: Any, observe_topics: Any, make_job: Any
) -> None:
    job = make_job()
    store.objects[job.upload_key] = (b"video-bytes", {})
    track = FakeTrack(frames=200, delay=0.02)  # 4 s of tracking if left alone
    svc = service(store, track, TICK)
    seen = observe_topics(svc.broker)

    running = asyncio.create_task(run_jobs(svc, job))
    await asyncio.sleep(0.5)
    store.small[cancel_key(job.job_id)] = b"{}"
    await running

    # Stopped at a tick soon after the cancel (~25 of 200 frames), not run to the end;
    # counted in frames, not seconds, so a loaded machine cannot fail it.
    assert track.reported < track.frames // 2
    assert f"masks/{job.job_id}.masks" not in store.objects
    assert not seen[MASKS_READY] and not seen[JOB_FAILED] and not seen[DEAD_LETTER]
    assert svc.metrics.value("cancelled") == 1 and svc.metrics.value("committed") == 1
    # Settled: no attempts record left to look like a crash later.
    assert not [k for k in store.small if k.startswith("attempts/")]
