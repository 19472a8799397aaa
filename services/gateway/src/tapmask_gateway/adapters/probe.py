"""Probe an upload: download it to a temp file, then tapmask_media's probe in a
child process with memory and time caps (a hostile file cannot take the gateway down).

The download is pinned to the object's ETag and the ETag is returned: the job then copies
exactly those bytes to a key of its own (``GatewayS3.pin``), because the presigned POST
stays valid for 15 minutes and a 2 s clip, once accepted, was re-posted as an 1800 s clip
of the same size that the workers then processed (issue 9)."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import anyio.to_thread

from tapmask_gateway.adapters.s3 import GatewayS3
from tapmask_gateway.settings import VideoLimits
from tapmask_gateway.usecases.ports import (
    CHANGED,
    CheckedUpload,
    ProbeBusy,
    ProbeRejected,
    UploadChanged,
)
from tapmask_media.errors import MediaError
from tapmask_media.probe import ProbeLimits, probe_in_subprocess
from tapmask_runtime.workdirs import work_dir_prefix


class ProbeCache:
    """Each upload's probe outcome (its info, or why it was refused) by key and ETag.

    A refused job creation (a click outside the frame, say) used to download and probe
    the whole upload again on every try, uncharged (issue 9); the same bytes give the same
    answer, so only new bytes (another ETag) are probed again. Bounded, least recently
    used first out; per gateway replica."""

    def __init__(self, size: int = 4096) -> None:
        self._items: OrderedDict[tuple[str, str], CheckedUpload | str] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: str, etag: str) -> CheckedUpload | str | None:
        with self._lock:
            found = self._items.get((key, etag))
            if found is not None:
                self._items.move_to_end((key, etag))
            return found

    def put(self, key: str, etag: str, outcome: CheckedUpload | str) -> None:
        with self._lock:
            self._items[(key, etag)] = outcome
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def current_etag(store: GatewayS3, key: str) -> str:
    etag = store.etag(key)
    if etag is None:
        raise ProbeRejected("the file has not been uploaded yet: send it to the presigned URL")
    return etag


def _probe_blocking(
    store: GatewayS3, key: str, etag: str, limits: VideoLimits, cache: ProbeCache
) -> CheckedUpload:
    try:
        checked = _probe_once(store, key, etag, limits)
    except ProbeRejected as exc:
        if str(exc) != CHANGED:
            cache.put(key, etag, str(exc))
        raise
    cache.put(key, etag, checked)
    return checked


def _probe_once(store: GatewayS3, key: str, etag: str, limits: VideoLimits) -> CheckedUpload:
    suffix = Path(key).suffix
    with tempfile.TemporaryDirectory(prefix=work_dir_prefix("probe")) as tmp:
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


async def probe_upload(
    store: GatewayS3,
    key: str,
    limits: VideoLimits,
    cache: ProbeCache | None = None,
    etag: str | None = None,
) -> CheckedUpload:
    """Download the upload at ``etag`` (default: its current one) and probe it; the
    outcome goes into ``cache``."""
    cache = cache or ProbeCache(1)
    if etag is None:
        etag = await anyio.to_thread.run_sync(current_etag, store, key)
    return await anyio.to_thread.run_sync(_probe_blocking, store, key, etag, limits, cache)


class S3UploadProbe:
    """The upload probe port (``usecases.ports.UploadProbe``): outcomes cached per ETag in
    ``cache``, probes run in one of the ``slots`` shared with the frame previews (they bound
    the disk and memory concurrent probes take), waiting at most
    ``limits.probe_queue_timeout_s`` for one (then ``ProbeBusy``, not a queue without end)."""

    def __init__(
        self, store: GatewayS3, limits: VideoLimits, cache: ProbeCache, slots: asyncio.Semaphore
    ) -> None:
        self.store = store
        self.limits = limits
        self.cache = cache
        self.slots = slots

    async def known(self, key: str, etag: str) -> CheckedUpload | None:
        found = self.cache.get(key, etag)
        if isinstance(found, str):
            raise ProbeRejected(found)
        return found

    async def probe(self, key: str, etag: str) -> CheckedUpload:
        try:
            async with asyncio.timeout(self.limits.probe_queue_timeout_s):
                await self.slots.acquire()
        except TimeoutError:
            raise ProbeBusy from None
        try:
            return await probe_upload(self.store, key, self.limits, self.cache, etag)
        finally:
            self.slots.release()
