"""Tracker and renderer as real processes over real Kafka and S3: a job end to end, a
renderer SIGKILLed mid-job, poison messages, and the notifier's SSE on the same run."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import av
import cv2
import httpx
import numpy as np
import pytest
from workers_harness import TRACKER_MAX_POLL_MS, sse_events

from tapmask_media.masks import read_mask_stream
from tapmask_schemas import Effect, JobCreated, ProcessingMode
from tapmask_schemas.keys import hold_key
from tapmask_schemas.topics import (
    DEAD_LETTER,
    JOB_CREATED,
    JOB_FAILED,
    JOB_PROGRESS,
    MASKS_READY,
    VIDEO_READY,
)
from tapmask_tracker.handlers import _READY as HELD  # what the tracker says at the gate

pytestmark = pytest.mark.integration


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


async def download(stack: Any, s3_client: Any, key: str, to: Path) -> Path:
    await asyncio.to_thread(s3_client.download_file, stack.s3.bucket, key, str(to))
    return to


def check_output_hides_the_object(
    stack: Any, output: Path, masks: Path, *, erased: bool = False
) -> None:
    """Every frame, the right size; the tracked object (its stored masks, which hold the
    click) changed a lot, the picture away from it hardly at all.

    A blur changes every masked pixel that has detail, so it is checked frame by frame.
    Erasing replaces the object with background, and background the mask happens to
    cover stays as it was: on a frame where the tracker's mask sits mostly beside the
    object, little changes, rightly. So erasing is checked over all frames together."""
    clip = stack.clip
    source, result = frames_of(clip.path), frames_of(output)
    stream = list(read_mask_stream(masks))
    assert len(result) == len(stream) == clip.frames
    assert result[0].shape == (clip.height, clip.width, 3)
    assert stream[0][int(clip.click[1]), int(clip.click[0])], "the click is not on the mask"
    insides: list[float] = []
    outsides: list[float] = []
    for i in range(0, clip.frames, 10):
        mask = stream[i]
        if mask.sum() < 100:
            continue
        diff = np.abs(result[i].astype(int) - source[i]).mean(axis=2)
        away = cv2.dilate(mask.astype(np.uint8), np.ones((31, 31), np.uint8)) == 0
        inside, outside = diff[mask].mean(), diff[away].mean()
        if not erased:
            assert inside > max(8.0, 3 * outside), f"frame {i}: {inside:.1f} vs {outside:.1f}"
        insides.append(inside)
        outsides.append(outside)
    assert len(insides) >= 3
    inside, outside = float(np.mean(insides)), float(np.mean(outsides))
    assert inside > max(8.0, 3 * outside), f"object {inside:.1f} vs {outside:.1f}"


async def test_job_flows_from_job_created_to_a_valid_video(
    stack: Any, s3_client: Any, tmp_path: Path
) -> None:
    obs = stack.observer
    job = stack.job(effect=Effect.PIXELATE)
    # A gate the test opens: the owner's hold (as the gateway writes it) keeps the tracker
    # waiting once the outline is done. The tracker's stage then outlives its
    # max.poll.interval.ms by construction, on a machine of any speed (it raced the clock:
    # "longer than 500 ms" failed on a fast machine and proved nothing on a slow one).
    hold = s3_client.put_object
    await asyncio.to_thread(
        hold, Bucket=stack.s3.bucket, Key=hold_key(job.job_id), Body=b'{"at_end": true}'
    )
    await stack.send(JOB_CREATED, job)
    stream = asyncio.create_task(sse_events(stack, job.job_id))

    def held() -> bool:
        return any(r.json["message"] == HELD for r in obs.of(JOB_PROGRESS, job.job_id))

    await obs.wait_for("the tracker to wait at the gate", held, 120)
    await asyncio.sleep(2 * TRACKER_MAX_POLL_MS / 1000)  # the gate stays shut this long
    assert not obs.of(MASKS_READY, job.job_id)  # it is holding
    await asyncio.to_thread(
        hold, Bucket=stack.s3.bucket, Key=hold_key(job.job_id), Body=b'{"at_end": false}'
    )

    [masks] = await obs.wait_for("masks-ready", lambda: obs.of(MASKS_READY, job.job_id))
    [ready] = await obs.wait_for("video-ready", lambda: obs.of(VIDEO_READY, job.job_id))
    assert masks.json["masks_key"] == f"masks/{job.job_id}.masks"
    assert masks.json["frames_with_object"] > stack.clip.frames // 2
    assert ready.json["output_key"] == f"outputs/{job.job_id}.mp4"
    output = await download(stack, s3_client, ready.json["output_key"], tmp_path / "out.mp4")
    assert output.stat().st_size == ready.json["size_bytes"]
    masks_file = await download(stack, s3_client, masks.json["masks_key"], tmp_path / "m.tmask")
    check_output_hides_the_object(stack, output, masks_file)

    progress = [r.json for r in obs.of(JOB_PROGRESS, job.job_id)]
    # The tracker's stage outlived its max.poll.interval.ms (held at the gate), yet it was
    # not redelivered (checked again at the end).
    started = datetime.fromisoformat(progress[0]["occurred_at"])
    tracked = datetime.fromisoformat(masks.json["occurred_at"])
    assert progress[0]["stage"] == "downloading"
    assert (tracked - started).total_seconds() * 1000 > TRACKER_MAX_POLL_MS
    stages = [p["stage"] for p in progress]
    assert {"downloading", "tracking", "rendering", "uploading", "done"} <= set(stages)
    assert progress[-1]["status"] == "completed" and progress[-1]["percent"] == 100
    assert not obs.of(JOB_FAILED, job.job_id)

    # The same run through the notifier: ordered ids, a growing percent, closed at the end.
    events = await asyncio.wait_for(stream, 60)
    ids = [e["id"] for e in events if "id" in e]
    assert ids == sorted(ids) and len(ids) >= 3
    data = [e["data"] for e in events]
    assert data[-1]["status"] == "completed" and data[-1]["percent"] == 100
    assert {"tracking", "rendering"} <= {d["stage"] for d in data}

    # Metrics and JSON logs of both workers say what happened to this job.
    async with httpx.AsyncClient() as client:
        for name, url in stack.metrics_urls.items():
            text = (await client.get(url)).text
            assert f'tapmask_worker_jobs_total{{outcome="completed",service="{name}"}}' in text
            assert "tapmask_worker_stage_duration_seconds_bucket" in text
            topic = stack.prefix + (JOB_CREATED if name == "tracker" else MASKS_READY)
            lag = (
                r'tapmask_worker_consumer_lag\{partition="\d",'
                rf'service="{name}",topic="{re.escape(topic)}"\}} 0\.0'
            )
            assert re.search(lag, text), f"{name}: no consumer lag sample"
    for name in ("tracker", "renderer"):
        lines = stack.processes[name].log_lines()
        assert all(line.startswith("{") for line in lines), f"{name}: not JSON lines"
        assert any(json.loads(x).get("job_id") == str(job.job_id) for x in lines), name

    await asyncio.sleep(3)  # a redelivery (a worker thrown out of its group) would show now
    assert len(obs.of(MASKS_READY, job.job_id)) == 1
    assert len(obs.of(VIDEO_READY, job.job_id)) == 1


async def test_renderer_killed_mid_job_finishes_it_exactly_once(
    stack: Any, s3_client: Any, tmp_path: Path
) -> None:
    obs = stack.observer
    renderer = stack.processes["renderer"]
    # Erasing: the slow mode, so the kill lands well inside rendering.
    job = await stack.submit(mode=ProcessingMode.MAGIC_ERASER)

    def rendering_started() -> bool:
        return any(r.json["stage"] == "rendering" for r in obs.of(JOB_PROGRESS, job.job_id))

    await obs.wait_for("the renderer to start rendering", rendering_started)
    renderer.kill9()
    assert not obs.of(VIDEO_READY, job.job_id)
    renderer.start()

    await obs.wait_for("video-ready after restart", lambda: obs.of(VIDEO_READY, job.job_id), 120)
    await asyncio.sleep(3)  # a grace period for any duplicate to show up
    [ready] = obs.of(VIDEO_READY, job.job_id)
    output = await download(stack, s3_client, ready.json["output_key"], tmp_path / "out.mp4")
    masks = await download(stack, s3_client, f"masks/{job.job_id}.masks", tmp_path / "m.tmask")
    check_output_hides_the_object(stack, output, masks, erased=True)
    assert not obs.of(JOB_FAILED, job.job_id)


async def test_a_job_that_kills_the_renderer_every_time_is_dead_lettered(stack: Any) -> None:
    """A crash loop (OOM, a codec segfault) is stopped by the durable count of starts."""
    obs = stack.observer
    renderer = stack.processes["renderer"]
    renderer.stop()
    renderer.env["TAPMASK_WORKER__MAX_ATTEMPTS"] = "2"  # two lives keep the test short
    renderer.start()
    job = await stack.submit(mode=ProcessingMode.MAGIC_ERASER)  # slow: the kill lands mid-job

    def render_starts() -> int:  # the renderer's share of a magic_eraser job starts at 30 %
        return sum(
            r.json["stage"] == "downloading" and r.json["percent"] >= 30
            for r in obs.of(JOB_PROGRESS, job.job_id)
        )

    try:
        for life in (1, 2):
            await obs.wait_for(f"render start {life}", lambda n=life: render_starts() >= n, 120)
            renderer.kill9()  # every start dies, like a worker that runs out of memory
            renderer.start()
        [failed] = await obs.wait_for("job-failed", lambda: obs.of(JOB_FAILED, job.job_id), 120)
    finally:
        del renderer.env["TAPMASK_WORKER__MAX_ATTEMPTS"]  # for the next restart
    assert failed.json["stage"] == "rendering" and failed.json["retryable"] is False
    assert failed.json["reason"].startswith("The worker crashed 2 times on this job")
    [dead] = [
        r
        for r in obs.of(DEAD_LETTER)
        if r.headers.get("x-original-topic") == stack.prefix + MASKS_READY
        and str(job.job_id).encode() in r.value
    ]
    assert "crashed 2 times" in dead.headers["x-reason"]
    assert render_starts() == 2  # not started a third time
    assert not obs.of(VIDEO_READY, job.job_id)

    nxt = await stack.submit()
    await obs.wait_for("the next job", lambda: obs.of(VIDEO_READY, nxt.job_id), 120)
    assert not obs.of(JOB_FAILED, nxt.job_id)


async def test_poison_messages_are_dead_lettered_and_the_next_job_completes(stack: Any) -> None:
    obs = stack.observer
    readable = stack.job()
    bad = json.dumps(
        {"event_type": "job-created", "job_id": str(readable.job_id), "mode": "paint"}
    ).encode()
    await stack.send_raw(JOB_CREATED, b"\xff\xfe not json")
    await stack.send_raw(JOB_CREATED, bad)
    job = await stack.submit()

    dead = await obs.wait_for(
        "two dead letters",
        lambda: (
            (d := [r for r in obs.of(DEAD_LETTER) if r.value in (bad, b"\xff\xfe not json")])
            and len(d) == 2
            and d
        ),
    )
    for record in dead:
        assert "not a valid JobCreated" in record.headers["x-reason"]
        assert record.headers["x-original-topic"] == stack.prefix + JOB_CREATED
    [failed] = await obs.wait_for("job-failed", lambda: obs.of(JOB_FAILED, readable.job_id))
    assert failed.json["retryable"] is False and failed.json["reason"]
    await obs.wait_for("the next job", lambda: obs.of(VIDEO_READY, job.job_id))
    assert not obs.of(JOB_FAILED, job.job_id)


async def test_job_with_a_click_outside_the_frame_fails_with_the_reason(stack: Any) -> None:
    obs = stack.observer
    from tapmask_schemas import ClickPoint

    job: JobCreated = await stack.submit(points=[ClickPoint(x=5000, y=10)])
    [failed] = await obs.wait_for("job-failed", lambda: obs.of(JOB_FAILED, job.job_id))
    assert "outside" in failed.json["reason"] and failed.json["stage"] == "tracking"
    assert any(
        r.headers.get("x-original-topic") == stack.prefix + JOB_CREATED
        and str(job.job_id).encode() in r.value
        for r in obs.of(DEAD_LETTER)
    )
    assert not obs.of(MASKS_READY, job.job_id)
    events = await asyncio.wait_for(sse_events(stack, job.job_id), 30)
    assert events[-1]["data"]["status"] == "failed" and "outside" in events[-1]["data"]["reason"]


async def test_sigterm_finishes_or_abandons_the_running_job_and_nothing_is_lost(stack: Any) -> None:
    obs = stack.observer
    tracker = stack.processes["tracker"]

    def tracking(job_id: UUID) -> Any:
        return lambda: any(r.json["stage"] == "tracking" for r in obs.of(JOB_PROGRESS, job_id))

    # With the default grace the worker finishes the job it holds, then leaves.
    first = await stack.submit()
    await obs.wait_for("tracking", tracking(first.job_id))
    assert await asyncio.to_thread(tracker.stop) == 0
    await obs.wait_for("masks-ready", lambda: obs.of(MASKS_READY, first.job_id), 10)

    # With no grace it abandons the job uncommitted; the next worker redoes it, once.
    tracker.env["TAPMASK_WORKER__SHUTDOWN_GRACE_S"] = "0"
    tracker.start()
    second = await stack.submit()
    await obs.wait_for("tracking", tracking(second.job_id))
    assert await asyncio.to_thread(tracker.stop) == 0
    assert not obs.of(MASKS_READY, second.job_id)
    del tracker.env["TAPMASK_WORKER__SHUTDOWN_GRACE_S"]
    tracker.start()
    await obs.wait_for("video-ready", lambda: obs.of(VIDEO_READY, second.job_id))
    assert len(obs.of(MASKS_READY, second.job_id)) == 1
    assert not obs.of(JOB_FAILED, second.job_id)
    assert len(obs.of(VIDEO_READY, first.job_id)) == 1
