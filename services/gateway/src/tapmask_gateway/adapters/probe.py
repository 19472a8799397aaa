"""Probe an upload: download it to a temp file, then tapmask_media's probe in a
child process with memory and time caps (a hostile file cannot take the gateway down)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio.to_thread

from tapmask_gateway.adapters.s3 import ObjectStore
from tapmask_gateway.settings import VideoLimits
from tapmask_media.errors import MediaError
from tapmask_media.probe import ProbeLimits, VideoInfo, probe_in_subprocess


class ProbeRejected(ValueError):
    """The upload is not a usable video; the message names the problem."""


def _limits(limits: VideoLimits) -> ProbeLimits:
    return ProbeLimits(
        max_file_bytes=limits.max_upload_bytes,
        max_pixels=limits.max_pixels,
        max_streams=limits.max_streams,
        max_duration_s=limits.max_duration_s,
        max_frames=limits.max_frames,
    )


def _probe_blocking(store: ObjectStore, key: str, suffix: str, limits: VideoLimits) -> VideoInfo:
    with tempfile.TemporaryDirectory(prefix="tapmask-probe-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        store.download(key, path)
        try:
            return probe_in_subprocess(
                path,
                _limits(limits),
                timeout=limits.probe_timeout_s,
                memory_limit=limits.probe_memory_bytes,
            )
        except MediaError as exc:
            # The messages name our temp path; the user knows it as "the upload".
            message = str(exc).replace(f"{path}: ", "").replace(str(path), "the upload")
            raise ProbeRejected(message) from None


async def probe_upload(store: ObjectStore, key: str, limits: VideoLimits) -> VideoInfo:
    suffix = Path(key).suffix
    return await anyio.to_thread.run_sync(_probe_blocking, store, key, suffix, limits)
