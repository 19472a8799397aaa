"""The mask preview's worker process (adapters/preview_pool.py) is what its docstring says:
spawned with none of the gateway's secrets in its environment, at a lower CPU priority,
under an address-space cap (a hostile upload decoded there finds no credentials and
cannot take the gateway's memory or cores)."""

from __future__ import annotations

import asyncio
import os
import resource

import pytest

from tapmask_gateway.adapters.preview_pool import PreviewPool
from tapmask_gateway.settings import PreviewSettings, VideoLimits


def _limit() -> int:
    return resource.getrlimit(resource.RLIMIT_AS)[0]


async def test_the_worker_has_no_secrets_a_lower_priority_and_a_memory_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TAPMASK_TOKEN_SECRET", "s" * 40)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-for-the-worker")
    settings = PreviewSettings(worker_nice=7, worker_memory_bytes=3 * 1024**3)
    pool = PreviewPool(settings, VideoLimits().probe_fields())
    try:
        await pool.start()
        worker = pool._executor(0)
        loop = asyncio.get_running_loop()
        secret = await loop.run_in_executor(worker, os.getenv, "TAPMASK_TOKEN_SECRET")
        aws = await loop.run_in_executor(worker, os.getenv, "AWS_SECRET_ACCESS_KEY")
        path = await loop.run_in_executor(worker, os.getenv, "PATH")
        niceness = await loop.run_in_executor(worker, os.nice, 0)
        cap = await loop.run_in_executor(worker, _limit)
        assert len(pool.worker_pids()) == 1 and os.getpid() not in pool.worker_pids()
    finally:
        pool.close()
    assert secret is None and aws is None
    assert path  # what Python itself needs is kept
    assert niceness == os.nice(0) + 7
    assert cap == 3 * 1024**3
