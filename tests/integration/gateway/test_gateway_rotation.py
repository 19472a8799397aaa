"""A phone video with display rotation: the browser shows it turned, and clicks arrive in
those displayed pixels (videoWidth x videoHeight); the gateway checks them there."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import av
import numpy as np
import pytest
from gateway_harness import Served, create_job, next_job_created, upload

from tapmask_schemas import JobCreated

pytestmark = pytest.mark.integration


def _upright_phone_clip(path: Path) -> Path:
    """Stored 64x48 with a 90-degree display rotation: players show it 48x64."""
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.set_display_rotation(90)
        for i in range(10):
            img = np.full((48, 64, 3), 30, np.uint8)
            img[16:32, 8:24] = 220
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


async def test_clicks_are_checked_against_the_displayed_size(
    gateway: Served, kafka_bootstrap: str, tmp_path: Path
) -> None:
    async with gateway.client() as client:
        key = await upload(client, _upright_phone_clip(tmp_path / "phone.mp4"))
        # Inside the 48x64 displayed frame (y=60 would be outside the stored 64x48 one).
        inside = await create_job(client, key, 30, 60)
        assert inside.status_code == 201, inside.text
        # Inside the stored frame, outside the displayed one.
        outside = await create_job(client, await upload(client, tmp_path / "phone.mp4"), 60, 10)
        assert outside.status_code == 422
        assert outside.json()["detail"] == "click (60, 10) is outside the 48x64 frame"

    event, _ = await next_job_created(kafka_bootstrap, UUID(inside.json()["job_id"]))
    assert isinstance(event, JobCreated)
    video = event.video
    assert (video.width, video.height, video.rotation) == (64, 48, 90)
    assert (video.display_width, video.display_height) == (48, 64)
