"""A job's masks-ready and video-ready with plausible values, for the tests that care about
a few of their fields only (the review, the tracker, when it happened): each says just
those, and the rest is written here once. Importable by every test (``tests/`` is on the
tests' path)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tapmask_schemas import Effect, MasksReady, ProcessingMode, VideoInfo, VideoReady

#: A small clip's probe: 64x48, 20 frames at 10 fps, no audio.
VIDEO = VideoInfo(
    width=64, height=48, frame_count=20, duration_seconds=2.0, fps=10.0, has_audio=False
)


def masks_ready(job_id: UUID, **fields: Any) -> MasksReady:
    """``job_id``'s masks-ready: a privacy blur of :data:`VIDEO`, its masks stored where the
    tracker stores them; any of these replaced by ``fields``."""
    values: dict[str, Any] = {
        "job_id": job_id,
        "upload_key": "uploads/x.mp4",
        "masks_key": f"masks/{job_id}.masks",
        "mode": ProcessingMode.PRIVACY,
        "effect": Effect.BLUR,
        "video": VIDEO,
        "frames_with_object": 20,
        "tracker_backend": "test",
    }
    return MasksReady(**(values | fields))


def video_ready(job_id: UUID, **fields: Any) -> VideoReady:
    """``job_id``'s video-ready: a 1-byte, 2-second result stored where the renderer stores
    it; any of these replaced by ``fields``."""
    values: dict[str, Any] = {
        "job_id": job_id,
        "output_key": f"outputs/{job_id}.mp4",
        "size_bytes": 1,
        "duration_seconds": 2.0,
    }
    return VideoReady(**(values | fields))
