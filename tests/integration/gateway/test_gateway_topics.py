"""The gateway, once started, holds the topics it uses - job-created (the relay's) and the
ones its projector reads - to the retention the README promises (issue 9 item 7): the
session's topics were made by the fixture with Kafka's 7-day default."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from gateway_harness import running_gateway

from tapmask_gateway.settings import Settings
from tapmask_schemas.topics import JOB_CREATED, JOB_FAILED, JOB_PROGRESS, MASKS_READY, VIDEO_READY

pytestmark = pytest.mark.integration


async def test_the_gateways_topics_drop_events_within_the_free_retention(
    make_settings: Callable[..., Settings],
    kafka_event_life: Callable[[list[str]], Awaitable[dict[str, timedelta]]],
) -> None:
    settings = make_settings()
    names = [
        settings.kafka.topic(t)
        for t in (JOB_CREATED, JOB_PROGRESS, MASKS_READY, VIDEO_READY, JOB_FAILED)
    ]
    async with running_gateway(settings):
        life = await kafka_event_life(names)
    limit = timedelta(hours=settings.quotas.free_retention_hours)
    assert {n: t for n, t in life.items() if t > limit} == {}
