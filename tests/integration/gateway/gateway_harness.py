"""Helpers of the gateway integration tests: a gateway on a free port, test clips, uploads."""

from __future__ import annotations

import asyncio
import random
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import asyncpg
import av
import httpx
import numpy as np
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from db_schema import new_schema as new_schema  # the tests take it from here
from litestar import Litestar

from tapmask_gateway.adapters.s3 import GatewayS3
from tapmask_gateway.app import create_app
from tapmask_gateway.controllers import deps
from tapmask_gateway.settings import Settings
from tapmask_runtime.streams import StreamSlots
from tapmask_schemas import parse_event, topics
from tapmask_schemas.events import Event

# The session's topics (TAPMASK_KAFKA__TOPIC_PREFIX): no other run's events reach these
# gateways, and the tests see that the relay and the projector both honour the prefix.
TOPIC_PREFIX = f"gwt{uuid.uuid4().hex[:8]}."

REPO = Path(__file__).resolve().parents[3]
VIDEOS = REPO.parent / "shared" / "testdata" / "videos"


async def publish(bootstrap: str, topic: str, event: Event) -> None:
    """Send ``event`` to this session's ``topic`` as a service would (keyed by job id)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            TOPIC_PREFIX + topic, event.model_dump_json().encode(), key=topics.key_for(event.job_id)
        )
    finally:
        await producer.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def create_topics(bootstrap: str) -> None:
    """The session's prefixed topics, before any gateway subscribes to them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(TOPIC_PREFIX + t, num_partitions=2, replication_factor=1)
                for t in topics.ALL_TOPICS
            ]
        )
    finally:
        await admin.close()


def random_ip() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


@dataclass
class Served:
    url: str
    app: Litestar
    settings: Settings
    ip: str = field(default_factory=random_ip)

    # What the app's providers hand its handlers (controllers/deps.py), for tests to look
    # behind the API: the same objects, from the same state.
    @property
    def db(self) -> asyncpg.Pool:
        return deps.provide_db_pool(self.app.state)

    @property
    def s3(self) -> GatewayS3:
        return deps.provide_s3(self.app.state)

    @property
    def probe_slots(self) -> asyncio.Semaphore:
        return deps.provide_probe_slots(self.app.state)

    @property
    def streams(self) -> StreamSlots:
        return deps.provide_streams(self.app.state)

    async def scrape(self, **headers: str) -> httpx.Response:
        """GET /metrics as this host's own scraper: from loopback, no X-Forwarded-For (with
        no TAPMASK_METRICS_TOKEN the gateway answers no one else)."""
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as scraper:
            return await scraper.get("/metrics", headers=headers)

    def client(self, ip: str | None = None, **headers: str) -> httpx.AsyncClient:
        """An HTTP client that the gateway counts as `ip` (a fresh address by default)."""
        return httpx.AsyncClient(
            base_url=self.url,
            headers={"X-Forwarded-For": ip or random_ip(), **headers},
            timeout=60,
        )


@asynccontextmanager
async def running_gateway(settings: Settings) -> AsyncIterator[Served]:
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            lifespan="on",
            # As in main(): uvicorn must not rewrite the peer from X-Forwarded-For itself
            # (by default it trusts 127.0.0.1); the gateway judges that header alone.
            proxy_headers=False,
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(600):
        if server.started:
            break
        if task.done():
            task.result()
            raise RuntimeError("the gateway did not start (see the log above)")
        await asyncio.sleep(0.05)
    else:
        raise TimeoutError("the gateway did not start within 30 s")
    try:
        yield Served(f"http://127.0.0.1:{port}", app, settings)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)


async def eventually(check: Callable[[], Awaitable[Any]], timeout_s: float = 30) -> Any:
    """Poll until `check` returns something truthy."""
    async with asyncio.timeout(timeout_s):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.1)


def write_clip(
    path: Path, *, width: int = 64, height: int = 48, frames: int = 20, fps: int = 10
) -> Path:
    """A small H.264 MP4 with a bright square moving over a dark background.

    The index (moov) comes first, as phones and web exports write it, so a cut-off
    copy still announces the frames it lost.
    """
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            img = np.full((height, width, 3), 30, np.uint8)
            x = (i * 2) % max(1, width - 16)
            img[16:32, x : x + 16] = 220
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


async def upload(client: httpx.AsyncClient, path: Path, content_type: str = "video/mp4") -> str:
    """Presign, then POST the file to the store as a browser would; returns the upload key."""
    data = await asyncio.to_thread(path.read_bytes)
    presign = await client.post(
        "/api/upload/presigned",
        json={"filename": path.name, "content_type": content_type, "size": len(data)},
    )
    assert presign.status_code == 200, presign.text
    body = presign.json()
    async with httpx.AsyncClient(timeout=60) as store:
        sent = await store.post(
            body["url"], data=body["fields"], files={"file": (path.name, data, content_type)}
        )
    assert sent.status_code in (200, 201, 204), sent.text
    return str(body["upload_key"])


async def create_job(
    client: httpx.AsyncClient, key: str, x: float = 20, y: float = 20, **extra: Any
) -> httpx.Response:
    return await client.post(
        "/api/jobs",
        json={"upload_key": key, "click_x": x, "click_y": y, "processing_mode": "privacy"} | extra,
    )


async def next_job_created(
    bootstrap: str, job_id: uuid.UUID, timeout_s: float = 30
) -> tuple[Any, bytes]:
    """The JobCreated of `job_id` as it is on Kafka (value and key)."""
    return await next_event(bootstrap, topics.JOB_CREATED, job_id, timeout_s)


async def next_event(
    bootstrap: str, topic: str, job_id: uuid.UUID, timeout_s: float = 30
) -> tuple[Any, bytes]:
    """The first event of `job_id` on `topic` (the test prefix added), value and key."""
    consumer = AIOKafkaConsumer(
        TOPIC_PREFIX + topic,
        bootstrap_servers=bootstrap,
        group_id=f"gw-test-reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        async with asyncio.timeout(timeout_s):
            async for record in consumer:
                event = parse_event(record.value)
                if event.job_id == job_id:
                    return event, record.key
    finally:
        await consumer.stop()
    raise AssertionError("unreachable")
