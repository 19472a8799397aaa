"""A whole job through the running system, as a browser or API client sees it.

The gateway, tracker, renderer and notifier run as their console scripts against the
real Kafka, PostgreSQL and S3. The test only speaks HTTP to the gateway: presign, upload
to the store, create the job, follow its Server-Sent Events to `completed`, download the
result — then checks the video: same frames and audio, the clicked object hidden, the
rest of the picture untouched.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import httpx
import numpy as np
import pytest
from api_client import download_result, upload
from services_harness import running_services, tail

from tapmask_media.probe import probe
from tapmask_runtime.settings import S3Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
VIDEOS = ROOT.parent / "shared" / "testdata" / "videos"
# The dog in 01_dog.mp4 (manifest: click [600, 427] at 1280x720), in a 640x360 excerpt.
CLICK = (300, 213)
FRAMES = 30
JOB_TIMEOUT_S = 240


def excerpt(src: Path, dst: Path, frames: int, width: int, height: int) -> Path:
    """The first `frames` frames of a real clip, downscaled, with its audio: a short test."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "faststart"}) as out:
        vin = inp.streams.video[0]
        rate = vin.average_rate
        assert rate is not None
        vout = out.add_stream("libx264", rate=rate)
        vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
        ain = inp.streams.audio[0] if inp.streams.audio else None
        aout = (
            out.add_stream("aac", rate=ain.codec_context.sample_rate, layout=ain.layout.name)
            if ain is not None
            else None
        )
        for n, frame in enumerate(inp.decode(vin)):
            if n >= frames:
                break
            small = frame.reformat(width=width, height=height, format="yuv420p")
            small.pts, small.time_base = n, Fraction(1) / rate
            for packet in vout.encode(small):
                out.mux(packet)
        for packet in vout.encode(None):
            out.mux(packet)
        if ain is not None and aout is not None:
            inp.seek(0)
            for audio in inp.decode(ain):
                if audio.time is not None and audio.time >= frames / rate:
                    break
                audio.pts = None
                for packet in aout.encode(audio):
                    out.mux(packet)
            for packet in aout.encode(None):
                out.mux(packet)
    return dst


@dataclass
class System:
    gateway: str
    logs: Path


@pytest.fixture(scope="module")
async def system(
    kafka_bootstrap: str,
    postgres_dsn: str,
    s3: S3Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[System]:
    logs = tmp_path_factory.mktemp("services")
    async with running_services(kafka_bootstrap, postgres_dsn, s3, logs) as gateway:
        yield System(gateway, logs)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clip")
    return excerpt(VIDEOS / "01_dog.mp4", folder / "dog.mp4", FRAMES, 640, 360)


async def sse_events(
    client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Every SSE event of the stream until the final one (completed or failed)."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    headers = {"Accept": "text/event-stream", **(headers or {})}
    async with client.stream("GET", url, headers=headers) as resp:
        assert resp.status_code == 200, await resp.aread()
        assert resp.headers["content-type"].startswith("text/event-stream")
        async for line in resp.aiter_lines():
            if not line:
                if "data" in current:
                    events.append(current)
                    if current["data"].get("status") in ("completed", "failed"):
                        break
                current = {}
            elif line.startswith(":"):
                continue  # keep-alive comment
            else:
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                current[field] = json.loads(value) if field == "data" else value
    return events


def frames_rgb(path: Path) -> Iterator[np.ndarray]:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * float(np.log10(255.0**2 / mse))


def detail(rgb: np.ndarray, box: tuple[slice, slice]) -> float:
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64)
    return float(cv2.Laplacian(gray, cv2.CV_64F)[box].var())


@pytest.mark.parametrize(("mode", "effect"), [("privacy", "blur"), ("magic_eraser", None)])
async def test_a_clip_is_processed_end_to_end_over_http_and_sse(
    system: System, clip: Path, tmp_path: Path, mode: str, effect: str | None
) -> None:
    data = await asyncio.to_thread(clip.read_bytes)
    async with httpx.AsyncClient(base_url=system.gateway, timeout=60) as api:
        body: dict[str, Any] = {
            "upload_key": await upload(api, "dog.mp4", data),
            "click_x": CLICK[0],
            "click_y": CLICK[1],
            "processing_mode": mode,
        }
        if effect:
            body["effect"] = effect
        created = await api.post("/api/jobs", json=body)
        assert created.status_code == 201, created.text
        job = created.json()

        async with asyncio.timeout(JOB_TIMEOUT_S):
            events = await sse_events(api, job["events_url"])
        statuses = [e["data"]["status"] for e in events]
        assert statuses[-1] == "completed", (events[-3:], tail(system.logs / "tracker.log"))
        assert "failed" not in statuses
        # Every update carries an SSE id (a leading snapshot of the current state may not).
        assert all("id" in e for e in events[1:]), events
        ids = [int(e["id"]) for e in events if "id" in e]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        percents = [float(e["data"]["percent"]) for e in events]
        assert percents == sorted(percents) and percents[-1] == 100
        stages = [e["data"]["stage"] for e in events]
        assert "tracking" in stages and "rendering" in stages

        # Reconnecting with Last-Event-ID (through the gateway) resumes after that event.
        resume_from = ids[-3]
        async with asyncio.timeout(30):
            resumed = await sse_events(
                api, job["events_url"], headers={"Last-Event-ID": str(resume_from)}
            )
        resumed_ids = [int(e["id"]) for e in resumed if "id" in e]
        # Nothing seen again, nothing missed. Ids come from the events, so a resume may
        # also bring a last progress that reached the notifier after video-ready (another
        # topic), which the live stream, already past it, did not send.
        assert resumed_ids == sorted(resumed_ids) and min(resumed_ids) > resume_from, resumed
        assert {i for i in ids if i > resume_from} <= set(resumed_ids), (ids, resumed)
        assert resumed[-1]["data"]["status"] == "completed"

        result = await download_result(api, job)
        assert result.status_code == 200
        out = tmp_path / "result.mp4"
        out.write_bytes(result.content)
        auth = {"Authorization": f"Bearer {job['access_token']}"}
        state = (await api.get(f"/api/jobs/{job['job_id']}", headers=auth)).json()
        assert state["status"] == "completed" and state["percent"] == 100
        # The service's default tracker (the learned one, models from `make install`) ran.
        assert state["tracker_backend"] == "learned", state

    src_info, out_info = probe(clip), probe(out)
    assert (out_info.width, out_info.height) == (640, 360)
    assert out_info.frame_count == src_info.frame_count == FRAMES
    assert out_info.has_audio
    assert abs(out_info.duration_s - src_info.duration_s) < 0.1

    box = (slice(CLICK[1] - 20, CLICK[1] + 20), slice(CLICK[0] - 25, CLICK[0] + 25))
    far = (slice(0, 100), slice(500, 640))  # sky and wall, far from the dog
    for i, (a, b) in enumerate(zip(frames_rgb(clip), frames_rgb(out), strict=True)):
        if i % 10:
            continue
        assert psnr(a[far], b[far]) > 30, f"frame {i}: the picture away from the dog changed"
        if mode == "privacy":
            assert detail(b, box) < 0.25 * detail(a, box), f"frame {i}: the dog is not blurred"
        else:
            moved = float(np.abs(a[box].astype(np.float64) - b[box]).mean())
            assert moved > 15, f"frame {i}: the dog was not erased (mean change {moved:.1f})"


# Every hand-labelled face of the shared clips (bench/face_labels.json, checked by eye on a
# 2x crop), through the system at the clips' own size and length.
FACE_LABELS = json.loads((ROOT / "bench" / "face_labels.json").read_text())["faces"]
# The manifest's clicks on frame 0: the dog, and the boy's body (not his face).
DOG = (600, 427)
BOY = (250, 300)


async def _faces_job(
    system: System, tmp_path: Path, clip_name: str, click: tuple[int, int] | None
) -> tuple[Path, Path, dict[str, Any]]:
    """A whole shared clip through the system with auto_faces (and ``click`` on an object
    in the same job), filled (black): the input, the result and the job's final state."""
    clip = VIDEOS / clip_name
    data = await asyncio.to_thread(clip.read_bytes)
    async with httpx.AsyncClient(base_url=system.gateway, timeout=60) as api:
        body: dict[str, Any] = {
            "upload_key": await upload(api, clip_name, data),
            "processing_mode": "privacy",
            "effect": "fill",
            "auto_faces": True,
        }
        if click is not None:
            body |= {"click_x": click[0], "click_y": click[1]}
        created = await api.post("/api/jobs", json=body)
        assert created.status_code == 201, created.text
        job = created.json()
        async with asyncio.timeout(JOB_TIMEOUT_S):
            events = await sse_events(api, job["events_url"])
        assert events[-1]["data"]["status"] == "completed", (
            events[-3:],
            tail(system.logs / "tracker.log"),
        )
        result = await download_result(api, job)
        out = tmp_path / "result.mp4"
        out.write_bytes(result.content)
        auth = {"Authorization": f"Bearer {job['access_token']}"}
        state = (await api.get(f"/api/jobs/{job['job_id']}", headers=auth)).json()
    return clip, out, state


def _dark(rgb: np.ndarray, box: tuple[int, int, int, int] | list[int]) -> float:
    x0, y0, x1, y1 = box
    return float((rgb[y0:y1, x0:x1].max(axis=2) < 40).mean())


def _every_labelled_face_filled(clip: Path, out: Path) -> None:
    """Each labelled face is bright in the upload and black (filled) in the result."""
    labels = {int(k): v for k, v in FACE_LABELS[clip.name].items()}
    checked = 0
    for i, (a, b) in enumerate(zip(frames_rgb(clip), frames_rgb(out), strict=True)):
        for box in labels.get(i, []):
            assert _dark(a, box) < 0.2, f"frame {i}: face {box} is dark to begin with"
            share = _dark(b, box)
            assert share > 0.99, f"{clip.name} frame {i}: face {box} only {share:.0%} hidden"
            checked += 1
    assert checked == sum(len(v) for v in labels.values())


def _face_review(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in state["review"] or [] if "face" in r["reason"]]


@pytest.mark.parametrize(("clip_name", "click"), [("01_dog.mp4", DOG), ("bedroom.mp4", BOY)])
async def test_an_api_job_hides_every_face_and_the_clicked_object(
    system: System, tmp_path: Path, clip_name: str, click: tuple[int, int]
) -> None:
    clip, out, state = await _faces_job(system, tmp_path, clip_name, click)
    assert state["tracker_backend"] == "learned+faces"
    _every_labelled_face_filled(clip, out)  # found although nobody clicked them ...
    after = next(frames_rgb(out))
    x, y = click
    assert float(after[y - 3 : y + 3, x - 3 : x + 3].max()) < 40  # ... and the clicked one
    # Frames where a face was uncertain are in the job's review list with the tracker's.
    assert _face_review(state), state["review"]


async def test_an_api_job_with_no_click_hides_the_faces_and_nothing_else(
    system: System, tmp_path: Path
) -> None:
    clip, out, state = await _faces_job(system, tmp_path, "05_default_juggle.mp4", None)
    assert state["status"] == "completed" and state["tracker_backend"] == "faces"
    _every_labelled_face_filled(clip, out)
    for i, (a, b) in enumerate(zip(frames_rgb(clip), frames_rgb(out), strict=True)):
        # Only his face goes black: a 55 x 65 px face's padded ellipse is under 1 % of
        # the 1280 x 720 frame; his shirt, the balls and the garden stay as they were.
        newly_dark = (b.max(axis=2) < 40) & (a.max(axis=2) >= 60)
        assert newly_dark.mean() < 0.015, f"frame {i}: {newly_dark.mean():.1%} filled"
    shirt = (slice(430, 450), slice(697, 717))  # the manifest's click on him, frame 0
    assert psnr(next(frames_rgb(clip))[shirt], next(frames_rgb(out))[shirt]) > 30
