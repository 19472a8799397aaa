"""One client cannot cut live progress for everyone (issue 9): the gateway relays progress
streams to the real notifier, at most a few per client and per job, and a client holding
its share leaves every other client's stream served at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any
from uuid import uuid4

import httpx
import pytest
import uvicorn
from gateway_harness import Served, free_port, running_gateway

from tapmask_gateway.domain.tokens import job_token
from tapmask_gateway.settings import EventStreamLimits, Settings
from tapmask_notifier.app import create_app as create_notifier
from tapmask_notifier.settings import Settings as NotifierSettings
from tapmask_notifier.settings import StreamSettings

pytestmark = pytest.mark.integration


@asynccontextmanager
async def running_notifier(settings: Settings) -> AsyncIterator[str]:
    """The real notifier app on the gateway's Kafka topics and secret."""
    port = free_port()
    app = create_notifier(
        NotifierSettings(
            token_secret=settings.token_secret,
            kafka=settings.kafka.model_copy(update={"client_id": "notifier-test"}),
            notifier=StreamSettings(port=port, history_s=0, keepalive_s=1),
        )
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(60):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        server.force_exit = True
        await asyncio.wait_for(task, timeout=30)


@asynccontextmanager
async def stream(
    served: Served, ip: str, job: Any | None = None
) -> AsyncIterator[tuple[httpx.Response, str]]:
    """Open ``GET /api/jobs/{job}/events`` as client ``ip``: the response, and its first
    data line when it is a stream (the job's current state), else ''."""
    job = job or uuid4()
    token = job_token(served.settings.token_secret.get_secret_value(), job)
    async with (
        httpx.AsyncClient(base_url=served.url, timeout=10) as client,
        client.stream(
            "GET",
            f"/api/jobs/{job}/events",
            params={"token": token},
            headers={"X-Forwarded-For": ip},
        ) as response,
    ):
        first = ""
        # Held until the context ends: a dropped line iterator closes the connection.
        lines = response.aiter_lines()
        if response.status_code == 200:
            while not first.startswith("data:"):
                first = await anext(lines)
        else:
            await response.aread()
        yield response, first


async def test_a_flood_from_one_client_leaves_other_clients_served(
    make_settings: Callable[..., Settings],
) -> None:
    limits = EventStreamLimits(per_client=4, per_job=3, total=12)
    settings = make_settings(event_streams=limits)
    async with running_notifier(settings) as notifier_url:
        settings = settings.model_copy(update={"notifier_url": notifier_url})
        async with running_gateway(settings) as served, AsyncExitStack() as held:
            flooder = "10.66.0.1"
            # 30 streams at once from one address: 4 are relayed, the rest refused at once.
            results = await asyncio.gather(
                *(held.enter_async_context(stream(served, flooder)) for _ in range(30))
            )
            codes = sorted(r.status_code for r, _ in results)
            assert codes == [200] * 4 + [429] * 26
            refused = next(r for r, _ in results if r.status_code == 429)
            assert "too many open progress streams from this client" in refused.json()["detail"]
            assert refused.headers["retry-after"]
            assert all(
                '"status": "pending"' in first for r, first in results if r.status_code == 200
            )

            # Everyone else: served at once, while the flood holds its streams.
            loop = asyncio.get_running_loop()
            for i in range(6):
                began = loop.time()
                async with stream(served, f"10.66.1.{i + 1}") as (response, first):
                    assert response.status_code == 200 and '"status": "pending"' in first
                assert loop.time() - began < 3

            # One job watched from many places: at most per_job streams.
            job = uuid4()
            watchers = [
                await held.enter_async_context(stream(served, f"10.66.2.{i + 1}", job))
                for i in range(4)
            ]
            assert [r.status_code for r, _ in watchers] == [200, 200, 200, 429]
            assert "for this job" in watchers[3][0].json()["detail"]

        # Streams closed: their slots are back.
        assert served.gw.streams.open_streams == 0
