"""Probe an upload: download it to a temp file, then tapmask_media's probe in a
child process with memory and time caps (a hostile file cannot take the gateway down).

The download is pinned to the object's ETag and the ETag is returned: the job then copies
exactly those bytes to a key of its own (``ObjectStore.pin``), because the presigned POST
stays valid for 15 minutes and a 2 s clip, once accepted, was re-posted as an 1800 s clip
of the same size that the workers then processed (issue 9)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread

from tapmask_gateway.adapters.s3 import ObjectStore, UploadChanged
from tapmask_gateway.settings import VideoLimits
from tapmask_media.errors import MediaError
from tapmask_media.probe import ProbeLimits, VideoInfo, probe_in_subprocess


class ProbeRejected(ValueError):
    """The upload is not a usable video; the message names the problem."""


CHANGED = "the upload changed while it was being checked: send the video once, then start the job"


@dataclass(frozen=True, slots=True)
class CheckedUpload:
    info: VideoInfo
    #: The ETag of the bytes that were probed (what the job pins).
    etag: str


def _probe_blocking(
    store: ObjectStore, key: str, suffix: str, limits: VideoLimits
) -> CheckedUpload:
    etag = store.etag(key)
    if etag is None:
        raise ProbeRejected("the file has not been uploaded yet: send it to the presigned URL")
    with tempfile.TemporaryDirectory(prefix="tapmask-probe-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        try:
            store.download(key, path, if_match=etag)
        except UploadChanged:
            raise ProbeRejected(CHANGED) from None
        try:
            info = probe_in_subprocess(
                path,
                ProbeLimits(**limits.probe_fields()),
                timeout=limits.probe_timeout_s,
                memory_limit=limits.probe_memory_bytes,
            )
        except MediaError as exc:
            # The messages name our temp path; the user knows it as "the upload".
            message = str(exc).replace(f"{path}: ", "").replace(str(path), "the upload")
            raise ProbeRejected(message) from None
    return CheckedUpload(info, etag)


async def probe_upload(store: ObjectStore, key: str, limits: VideoLimits) -> CheckedUpload:
    suffix = Path(key).suffix
    return await anyio.to_thread.run_sync(_probe_blocking, store, key, suffix, limits)
