"""Helpers shared by the live worker/notifier tests (imported by name, unlike conftest)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from uuid import UUID

import httpx

from tapmask_runtime.tokens import job_token

# Well below the tracker's time for a job on the test clip (1-2 s on 2 cores): every job in
# these tests outlives the tracker's max.poll.interval.ms, which must not get it thrown out
# of its consumer group (the job's partition is paused while getone() keeps polling).
TRACKER_MAX_POLL_MS = 500


async def sse_events(
    stack: Any, job_id: UUID, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Read a job's SSE stream until the notifier closes it; [{"id", "data"}...]."""
    return await read_events(stack, job_id, asyncio.Event(), headers, within_s=20.0)


async def read_events(
    stack: Any,
    job_id: UUID,
    connected: asyncio.Event,
    headers: dict[str, str] | None = None,
    within_s: float = 60.0,
) -> list[dict[str, Any]]:
    """A job's SSE stream until the notifier closes it, [{"id", "data"}...]; sets
    ``connected`` once subscribed (the stream's first line comes after that). A notifier
    still (re)starting is tried again for ``within_s`` seconds."""
    url = f"{stack.notifier_url}/api/jobs/{job_id}/events"
    deadline = time.monotonic() + within_s
    async with httpx.AsyncClient(timeout=httpx.Timeout(120, connect=5)) as client:
        while True:
            try:
                async with client.stream(
                    "GET",
                    url,
                    params={"token": job_token(stack.token_secret, job_id)},
                    headers=headers,
                ) as response:
                    assert response.status_code == 200
                    got: list[dict[str, Any]] = []
                    current: dict[str, Any] = {}
                    async for line in response.aiter_lines():
                        connected.set()
                        if line.startswith("id: "):
                            current["id"] = int(line[4:])
                        elif line.startswith("data: "):
                            current["data"] = json.loads(line[6:])
                        elif line == "" and current:
                            got.append(current)
                            current = {}
                    return got
            except httpx.ConnectError:
                if time.monotonic() > deadline:
                    raise AssertionError("the notifier never answered") from None
                await asyncio.sleep(0.2)
