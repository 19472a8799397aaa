"""The real tracker, renderer and notifier, once started, hold every topic they use to the
retention the README promises (issue 9 item 7): the session's public topics were made by
the fixture with Kafka's 7-day default, the retry topics by nobody but the workers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from tapmask_gateway.settings import Quotas
from tapmask_runtime.worker import retry_topic
from tapmask_schemas.topics import ALL_TOPICS, JOB_CREATED, MASKS_READY

pytestmark = pytest.mark.integration


async def test_every_topic_the_services_use_drops_events_within_the_free_retention(
    stack: Any, kafka_event_life: Callable[[list[str]], Awaitable[dict[str, timedelta]]]
) -> None:
    names = [
        stack.prefix + t
        for t in (
            *ALL_TOPICS,
            retry_topic(JOB_CREATED, "tracker"),
            retry_topic(MASKS_READY, "renderer"),
        )
    ]
    limit = timedelta(hours=Quotas().free_retention_hours)
    deadline = time.monotonic() + 120  # the services set the topics up as they start
    while True:
        for proc in stack.processes.values():
            proc.check_alive()
        life = await kafka_event_life(names)
        too_long = {n: str(t) for n, t in life.items() if t > limit}
        if not too_long or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    assert not too_long, f"kept longer than {limit}: {too_long}"
