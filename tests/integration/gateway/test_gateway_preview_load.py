"""The mask preview under a flood, and frames the probe never saw (issue 18), against the real
PostgreSQL and S3: the flood is refused with 429/503 in plain words and ``Retry-After``
while ``/api/health`` and the other endpoints keep answering 200; a frame that grows past
the pixel cap is refused by ``/frame`` and ``/mask``, not decoded.

How fast each answers is measured in ``bench/bench_preview_load.py``, not asserted here."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from gateway_harness import Served, running_gateway, upload, write_clip

from tapmask_gateway.settings import PreviewSettings, Settings

pytestmark = pytest.mark.integration


def _growing_avi(path: Path) -> Path:
    """MJPEG in AVI: the header and frames 0-4 are 640x480, frames 5-7 12000x9000 (each
    JPEG carries its own size; the probe reads the first frame only)."""

    def jpegs(width: int, height: int, count: int) -> list[bytes]:
        cc = av.CodecContext.create("mjpeg", "w")
        cc.width, cc.height, cc.pix_fmt = width, height, "yuvj420p"
        cc.time_base = Fraction(1, 10)
        out: list[bytes] = []
        for i in range(count):
            img = np.full((height, width, 3), 40 + 20 * i, np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuvj420p")
            frame.pts = i
            out += [bytes(p) for p in cc.encode(frame)]
        return out + [bytes(p) for p in cc.encode(None)]

    with av.open(str(path), "w", format="avi") as out:
        stream = out.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuvj420p"
        index = 0
        for size, count in (((640, 480), 5), ((12000, 9000), 3)):
            for data in jpegs(*size, count):
                packet = av.Packet(data)
                packet.stream = stream
                packet.pts = packet.dts = index
                packet.time_base = Fraction(1, 10)
                out.mux(packet)
                index += 1
    return path


async def test_frames_that_grow_past_the_cap_are_refused_by_frame_and_mask(
    gateway: Served, tmp_path: Path
) -> None:
    bomb = _growing_avi(tmp_path / "grows.avi")
    async with gateway.client() as client:
        key = await upload(client, bomb, "video/x-msvideo")
        facts = await client.get("/api/upload/video", params={"key": key})
        assert facts.status_code == 200, facts.text  # the probe sees 640x480 frames
        assert facts.json()["frame_count"] == 8
        shown = await client.get("/api/upload/frame", params={"key": key, "index": 4})
        assert shown.status_code == 200, shown.text
        cap = gateway.settings.limits.max_pixels
        grown = await client.get("/api/upload/frame", params={"key": key, "index": 6})
        assert grown.status_code == 422, grown.text
        assert grown.json()["detail"].startswith(
            f"frame 6 cannot be shown: by then the picture is larger than the {cap} pixels allowed"
        )
        mask = await client.post(
            "/api/upload/mask",
            json={"upload_key": key, "frame": 6, "points": [{"x": 100, "y": 100}]},
        )
        assert mask.status_code == 422, mask.text
        assert mask.json()["detail"].startswith("frame 6 cannot be shown")
        # The gateway is fine afterwards.
        assert (await client.get("/api/health")).status_code == 200


async def _flooder(
    served: Served,
    key: str,
    ip: str,
    clicks: int,
    in_flight: int,
    statuses: Counter[int],
    refusals: list[httpx.Response],
) -> None:
    async with served.client(ip=ip) as client:
        gate = asyncio.Semaphore(in_flight)

        async def click(i: int) -> None:
            async with gate:
                body = {
                    "upload_key": key,
                    "frame": i % 20,
                    "points": [{"x": 10 + i % 40, "y": 20}],
                }
                answer = await client.post("/api/upload/mask", json=body)
                statuses[answer.status_code] += 1
                if answer.status_code != 200:
                    refusals.append(answer)

        await asyncio.gather(*(click(i) for i in range(clicks)))


async def test_a_preview_flood_gets_429s_while_health_and_the_rest_answer_200(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    clip = write_clip(tmp_path / "clip.mp4", width=160, height=120)
    # A small burst, so the flood reaches the limits in a few clicks (the defaults are
    # bigger; the load at default limits is the benchmark's).
    preview = PreviewSettings(per_client_per_minute=6, per_client_burst=3, queue=2)
    async with running_gateway(make_settings(preview=preview)) as served:
        flooders = [f"10.18.0.{i}" for i in range(1, 7)]
        keys = {}
        for ip in [*flooders, "10.18.1.1"]:
            async with served.client(ip=ip) as client:
                keys[ip] = await upload(client, clip)
                assert (await client.get("/api/upload/video", params={"key": keys[ip]})).is_success
        statuses: Counter[int] = Counter()
        refusals: list[httpx.Response] = []
        other: Counter[tuple[str, int]] = Counter()
        flood = asyncio.gather(
            *(_flooder(served, keys[ip], ip, 8, 3, statuses, refusals) for ip in flooders)
        )
        rounds = 0
        while not flood.done():
            rounds += 1  # a new address each round: the general rate limit is not the test
            async with served.client(ip=f"10.18.2.{rounds % 250 + 1}") as bystander:
                for path in ("/api/health", "/api/upload/limits", "/livez"):
                    answer = await bystander.get(path)
                    other[(path, answer.status_code)] += 1
                presign = await bystander.post(
                    "/api/upload/presigned",
                    json={"filename": "a.mp4", "content_type": "video/mp4", "size": 1000},
                )
                other[("presign", presign.status_code)] += 1
            await asyncio.sleep(0.2)
        await flood
        # A person clicking once in the middle of it gets the mask or a plain refusal.
        async with served.client(ip="10.18.1.1") as person:
            mine = await person.post(
                "/api/upload/mask",
                json={"upload_key": keys["10.18.1.1"], "points": [{"x": 40, "y": 24}]},
            )
            assert mine.status_code in (200, 503), mine.text

    assert sum(statuses.values()) == 6 * 8
    assert statuses[429] > 0, statuses
    assert set(statuses) <= {200, 409, 429, 503}, statuses
    for refused in refusals:
        if refused.status_code in (429, 503):
            assert int(refused.headers["retry-after"]) >= 1
        detail = refused.json()["detail"]
        assert "mask preview" in detail or "newer click" in detail, detail
    # Nothing else was refused or slowed into an error meanwhile.
    assert {status for (_, status) in other} == {200}, other
    assert other[("/api/health", 200)] >= 1
