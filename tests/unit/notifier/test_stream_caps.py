"""The notifier's stream caps over a real HTTP server (streams held open): per client (by
its address: X-Forwarded-For only from configured proxies, none by default), per job,
and in all (issue 18: a local process named itself a new client per stream)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any
from uuid import UUID, uuid4

import httpx
import uvicorn
from faststream.kafka import KafkaBroker, TestKafkaBroker
from pydantic import SecretStr

from tapmask_notifier.app import UVICORN_OPTIONS, create_app
from tapmask_notifier.settings import Settings, StreamSettings
from tapmask_runtime.tokens import job_token

SECRET = "unit-test-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def served(**stream: Any) -> AsyncIterator[str]:
    options: dict[str, Any] = {"keepalive_s": 0.5, "history_s": 0, **stream}
    settings = Settings(token_secret=SecretStr(SECRET), notifier=StreamSettings(**options))
    broker = KafkaBroker()
    app = create_app(settings, broker=broker)
    port = _free_port()
    server = uvicorn.Server(
        # As main() serves it (UVICORN_OPTIONS); the lifespan only starts the broker, which
        # the in-memory one replaces.
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", **UVICORN_OPTIONS)
    )
    async with TestKafkaBroker(broker):
        task = asyncio.create_task(server.serve())
        try:
            async with asyncio.timeout(30):
                while not server.started:  # noqa: ASYNC110 - uvicorn offers no event
                    await asyncio.sleep(0.02)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            server.force_exit = True
            await asyncio.wait_for(task, timeout=30)


class Streams:
    """Streams held open until the block ends; ``open`` answers their status."""

    def __init__(self, base: str, stack: AsyncExitStack) -> None:
        self.base, self.stack = base, stack

    async def open(self, job: UUID, forwarded_for: str | None = None) -> int:
        headers = {"Authorization": f"Bearer {job_token(SECRET, job)}"}
        if forwarded_for:
            headers["X-Forwarded-For"] = forwarded_for
        client = await self.stack.enter_async_context(
            httpx.AsyncClient(base_url=self.base, timeout=10)
        )
        response = await self.stack.enter_async_context(
            client.stream("GET", f"/api/jobs/{job}/events", headers=headers)
        )
        if response.status_code == 429:
            assert "Retry-After" in response.headers
            await response.aread()
        return response.status_code


async def test_by_default_x_forwarded_for_from_loopback_is_not_believed() -> None:
    async with served(per_client=2, per_job=10, max_streams=100) as base, AsyncExitStack() as st:
        streams = Streams(base, st)
        got = [await streams.open(uuid4(), f"10.1.0.{i}") for i in range(1, 4)]
    # Three "clients" named by the header are one local process: the third is refused.
    assert got == [200, 200, 429]


async def test_a_configured_proxy_names_its_clients() -> None:
    async with (
        served(per_client=2, per_job=10, max_streams=100, trusted_proxies=["127.0.0.1"]) as base,
        AsyncExitStack() as st,
    ):
        streams = Streams(base, st)
        got = [await streams.open(uuid4(), f"10.1.0.{i}") for i in range(1, 4)]
        same = [await streams.open(uuid4(), "10.1.0.9") for _ in range(3)]
    assert got == [200, 200, 200]
    assert same == [200, 200, 429]  # each named client still has its own cap


async def test_one_job_holds_at_most_per_job_streams() -> None:
    job = uuid4()
    async with (
        served(per_client=10, per_job=3, max_streams=100, trusted_proxies=["127.0.0.1"]) as base,
        AsyncExitStack() as st,
    ):
        streams = Streams(base, st)
        got = [await streams.open(job, f"10.2.0.{i}") for i in range(1, 5)]
        other = await streams.open(uuid4(), "10.2.0.9")
    assert got == [200, 200, 200, 429]
    assert other == 200


async def test_the_notifier_holds_at_most_max_streams_in_all() -> None:
    async with (
        served(per_client=10, per_job=10, max_streams=4, trusted_proxies=["127.0.0.1"]) as base,
        AsyncExitStack() as st,
    ):
        streams = Streams(base, st)
        got = [await streams.open(uuid4(), f"10.3.0.{i}") for i in range(1, 7)]
    assert got == [200, 200, 200, 200, 429, 429]
